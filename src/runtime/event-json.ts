/**
 * The JSON events of a session, as `run --json` prints them and as `/api/events` and webhooks
 * carry them: state, qr, pairing-code, backup, error. Errors are reported by code and message,
 * never with a secret; the QR string is what the phone must scan (the one thing meant to leave).
 */
import type { Session } from './session.js'

export type VaultEvent = Record<string, unknown> & { event: string; session?: string }

/** Calls `emit` with one JSON object per event of `session`, for as long as it lives. */
export function watchSession(session: Session, emitEvent: (event: VaultEvent) => void): void {
  const id = session.sessionId
  // Every event carries the time it happened (ISO 8601, UTC), after its own fields.
  const emit = (event: VaultEvent) => emitEvent({ ...event, time: new Date().toISOString() })
  session.on('state', change => emit({ event: 'state', session: id, state: change.state, previous: change.previous, reason: change.reason }))
  session.on('qr', qr => emit({ event: 'qr', session: id, qr }))
  session.on('pairing-code', code => emit({ event: 'pairing-code', session: id, code }))
  session.on('backup', ({ file }) => emit({ event: 'backup', session: id, file }))
  session.on('error', err => emit({ event: 'error', session: id, code: (err as { code?: string }).code ?? 'ERROR', message: err.message }))
}
