import QRCode from 'qrcode'
import type { Session } from '../runtime/session.js'
import type { StateChange } from '../runtime/events.js'
import { formatMs } from '../runtime/duration.js'
import type { Output } from './command.js'
import { watchSession } from '../runtime/event-json.js'

/**
 * How `run` and `demo` report sessions. With --json: one JSON object per line on stdout (the
 * documented contract: state, qr, pairing-code, backup, error events), human lines on stderr.
 * Without: human lines on stdout, QR codes drawn in the terminal. Never a secret or message text:
 * errors are reported by code and message, and the QR string is what the phone must scan.
 */
export interface SessionOutput {
  attach(session: Session): void
  /** A line of the run itself (not of one session). */
  note(text: string): void
  event(event: Record<string, unknown>): void
}

export function sessionOutput(options: { stdout: Output; stderr: Output; json: boolean }): SessionOutput {
  const human = options.json ? options.stderr : options.stdout
  // Every event carries the time it happened (ISO 8601, UTC), after its own fields.
  const event = (e: Record<string, unknown>) => {
    if (options.json) options.stdout.write(`${JSON.stringify({ ...e, time: e.time ?? new Date().toISOString() })}\n`)
  }
  const note = (text: string) => human.write(`${text}\n`)
  const width = { id: 8 }

  return {
    note,
    event,
    attach(session) {
      const id = session.sessionId
      width.id = Math.max(width.id, id.length)
      let disconnectedAt: number | undefined
      let lastCode: number | undefined
      let reconnects = 0
      // The JSON lines are the runtime's event objects, the same /api/events and webhooks carry.
      watchSession(session, event)
      session.on('state', (change: StateChange) => {
        const now = Date.now()
        let detail = change.reason.message
        if (change.state === 'disconnected') {
          disconnectedAt ??= now
          lastCode = change.reason.code
        } else if (change.state === 'connected' && disconnectedAt !== undefined) {
          reconnects++
          detail = `reconnect #${reconnects}${lastCode ? ` after ${lastCode}` : ''}, ${formatMs(now - disconnectedAt)}`
          disconnectedAt = undefined
        }
        if (change.reason.code && change.state !== 'connected') detail += `, code ${change.reason.code}`
        note(`${id.padEnd(width.id)}  ${change.state.padEnd(12)} (${detail})`)
      })
      session.on('qr', qr => {
        if (options.json) return note(`${id}: QR code received; scan it from the "qr" event`)
        QRCode.toString(qr, { type: 'terminal', small: true }).then(
          art => note(`${id}: scan this QR code in WhatsApp > Linked devices > Link a device\n${art}`),
          () => note(`${id}: QR code (paste into any QR generator): ${qr}`)
        )
      })
      session.on('pairing-code', code => {
        note(`${id}: on the phone, open WhatsApp > Linked devices > Link with phone number, and enter ${code}`)
      })
      session.on('backup', ({ file }) => {
        note(`${id}: backup written to ${file}`)
      })
      session.on('error', err => {
        const code = (err as { code?: string }).code
        note(`${id}: error${code ? ` ${code}` : ''}: ${err.message}`)
      })
    }
  }
}
