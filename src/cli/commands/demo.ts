import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import pino from 'pino'
import { VaultError } from '../../core/errors.js'
import { formatMs } from '../../runtime/duration.js'
import { createRuntime } from '../../runtime/runtime.js'
import type { Session } from '../../runtime/session.js'
import type { SessionState } from '../../runtime/states.js'
import { startSimulator, trustSimulator } from '../../sim/index.js'
import { openStore } from '../../open-store.js'
import { EXIT_OK, EXIT_PROBLEMS, flagString, UsageError, type Command } from '../command.js'
import { pingPongBot } from '../demo-bot.js'

const SESSION = 'demo'
const CONTACT = '15550001234'
/** Each step's own limit: the whole demo stays well under a minute on a slow machine. */
const STEP_TIMEOUT_MS = 20_000

/**
 * `baileys-vault demo`: the runtime end to end, offline. An in-process simulator plays the
 * WhatsApp server, the phone and a contact; the real Baileys client runs as a session of the
 * runtime on SQLite, with a ping/pong bot. Prints a timeline of states, exits 0 when every step
 * held.
 */
export const demoCommand: Command = {
  name: 'demo',
  summary: 'See the runtime keep a session alive, offline: link, ping/pong, kill, 515, silence, graceful stop',
  usage: [
    'baileys-vault demo [--db ./demo.db] [--json]',
    '',
    'Runs offline in under a minute: a simulated WhatsApp server, phone and contact, the real Baileys client,',
    'a SQLite store (a temporary file unless --db). The phone scans the QR, a contact sends "ping" and the',
    'bot answers "pong", the socket is killed and the session reconnects without a QR, a 515 restart and a',
    'silent (half-open) connection are recovered, then the session stops gracefully.'
  ].join('\n'),
  valueFlags: ['db'],
  flags: [],

  async run(args, ctx) {
    if (args.positionals.length) throw new UsageError(`demo takes no arguments, got "${args.positionals[0]}"`)
    const dbFlag = flagString(args, 'db')
    const tmp = dbFlag ? undefined : mkdtempSync(join(tmpdir(), 'baileys-vault-demo-'))
    const db = dbFlag ? resolve(dbFlag) : join(tmp!, 'demo.db')
    const started = Date.now()
    const at = () => formatMs(Date.now() - started).padStart(8)
    const line = (text: string) => (ctx.json ? ctx.stderr : ctx.stdout).write(`${text}\n`)
    const event = (e: Record<string, unknown>) => ctx.json && ctx.stdout.write(`${JSON.stringify({ ...e, ms: Date.now() - started })}\n`)

    line(`baileys-vault demo: a simulated WhatsApp server and phone, the real Baileys client, SQLite at ${db}`)
    const sim = await startSimulator()
    const untrust = trustSimulator(sim)
    const store = await openStore(`sqlite:${db}`)
    const runtime = createRuntime({
      store,
      // Baileys' own logs stay off: the timeline below is what the demo shows.
      socket: { waWebSocketUrl: sim.url, keepAliveIntervalMs: 1_000, logger: pino({ level: 'silent' }) },
      // A silent connection is noticed after 3 s here (60 s by default).
      watchdog: { timeoutMs: 3_000 },
      backupDir: join(tmp ?? resolve('.'), 'backups')
    })
    const steps: Array<{ step: string; ok: boolean; ms: number }> = []
    try {
      const session = await runtime.start(SESSION)
      session.on('state', ({ state, previous, reason }) => {
        event({ event: 'state', session: SESSION, state, previous, reason })
        line(`${at()}  ${SESSION}  ${state.padEnd(12)} ${reason.message}${reason.code ? ` (code ${reason.code})` : ''}`)
      })
      let qrs = 0
      session.on('qr', qr => {
        qrs++
        line(`${at()}  phone scans the QR code`)
        void sim.phone.scan(qr)
      })
      session.on('socket', sock => pingPongBot(sock))
      const contact = sim.contact(CONTACT, { name: 'Contact' })

      const step = async (name: string, run: () => Promise<string>) => {
        const t = Date.now()
        line(`\n${name}`)
        const detail = await run()
        steps.push({ step: name, ok: true, ms: Date.now() - t })
        event({ event: 'step', step: name, ok: true, detail })
        line(`${at()}  ok: ${detail} (${formatMs(Date.now() - t)})`)
      }

      await step('1. link: the simulated phone scans the QR code', async () => {
        await reach(session, 'connected')
        return 'linked and connected'
      })
      await step('2. a contact sends "ping"; the bot answers', async () => {
        await contact.sendText('ping')
        const reply = await contact.nextMessage(STEP_TIMEOUT_MS)
        if (reply.text !== 'pong') throw new VaultError('NOT_FOUND', `the bot answered ${JSON.stringify(reply.text)}, not "pong"`)
        return 'the contact decrypted "pong"'
      })
      const before = qrs
      await step('3. the socket is killed (no close frame, as when a network drops)', async () => {
        const ws = (session.socket as unknown as { ws?: { socket?: { terminate(): void } } })?.ws?.socket
        if (!ws) throw new VaultError('NOT_FOUND', 'the session has no live socket to kill')
        ws.terminate()
        await reach(session, 'disconnected')
        await reach(session, 'connected')
        if (qrs !== before) throw new VaultError('CORRUPT_DATA', 'the session asked for a new QR code')
        return 'reconnected from the stored creds, no QR'
      })
      await step('4a. the server asks for a restart (515)', async () => {
        sim.kick(deviceJid(sim.devices()), 'restart')
        await reach(session, 'disconnected')
        await reach(session, 'connected')
        return 'reconnected at once'
      })
      await step('4b. the connection goes silent (half-open: no pongs, no frames)', async () => {
        sim.silence(deviceJid(sim.devices()), 30_000)
        await reach(session, 'disconnected')
        await reach(session, 'connected')
        return 'the watchdog noticed and reconnected'
      })
      await step('5. graceful stop: drain writes, end the socket, never log out', async () => {
        await runtime.stop()
        if (session.state !== 'stopped') throw new VaultError('NOT_FOUND', `the session ended ${session.state}`)
        const linked = sim.devices().length
        return `stopped; the device is still linked (${linked} device${linked === 1 ? '' : 's'} on the phone)`
      })
      line(`\ndemo ok: ${steps.length} steps in ${formatMs(Date.now() - started)}. Keep a real account alive with: baileys-vault run sqlite:./wa.db`)
      event({ event: 'done', ok: true })
      return EXIT_OK
    } catch (err) {
      line(`\ndemo failed: ${(err as Error).message}`)
      event({ event: 'done', ok: false, message: (err as Error).message })
      return EXIT_PROBLEMS
    } finally {
      await runtime.stop()
      await store.close()
      await sim.stop()
      untrust()
      if (tmp) rmSync(tmp, { recursive: true, force: true })
    }
  }
}

const deviceJid = (devices: Array<{ jid: string; online: boolean }>): string => {
  const device = devices.find(d => d.online)
  if (!device) throw new VaultError('NOT_FOUND', 'no device is online at the simulator')
  return device.jid
}

/** Resolves when the session enters `state` (now or later); rejects after the step limit or on a final state. */
function reach(session: Session, state: SessionState): Promise<void> {
  if (session.state === state) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => done(new VaultError('NOT_FOUND', `the session did not reach "${state}" within ${STEP_TIMEOUT_MS / 1000} s (it is ${session.state})`)),
      STEP_TIMEOUT_MS
    )
    const listener = ({ state: next }: { state: SessionState }) => {
      if (next === state) done()
      else if (next === 'failed' || next === 'stopped') done(new VaultError('NOT_FOUND', `the session ended "${next}" while waiting for "${state}"`))
    }
    const done = (err?: Error) => {
      clearTimeout(timer)
      session.off('state', listener)
      if (err) reject(err)
      else resolve()
    }
    session.on('state', listener)
  })
}

export default demoCommand
