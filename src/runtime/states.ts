/**
 * The session lifecycle (README "Keeping a session alive"), as a checked state machine:
 *
 *   unregistered → connecting → registering → registered → connecting → connected ⇄ disconnected
 *   connected → expired → unregistered            registered → unregistered
 *
 * `standby`: another process holds the session's lease; this one polls and takes over when it
 * is released or expires (every live state goes there when the lease is lost).
 *
 * `queued`: waiting for a connection slot of the runtime's ramp (at most maxConnecting handshakes
 * in flight at once, start-ramp.ts); next is `connecting`.
 *
 * `failed` needs help (creds kept, reason given); `stopped` is the end of a graceful stop.
 */
export type SessionState =
  'unregistered' | 'registering' | 'registered' | 'queued' | 'connecting' | 'connected' | 'disconnected' | 'expired' | 'standby' | 'failed' | 'stopped'

/** Why a transition happened: a Baileys DisconnectReason code when there is one, and a message. */
export interface StateReason {
  code?: number
  message: string
}

const ANYWHERE_TO = ['failed', 'stopped'] as const

/** Allowed next states (failed and stopped are reachable from every live state). */
const NEXT: Record<SessionState, readonly SessionState[]> = {
  unregistered: ['queued', 'connecting', 'standby', 'disconnected'],
  queued: ['connecting', 'standby', 'disconnected'],
  connecting: ['registering', 'registered', 'connected', 'disconnected', 'expired', 'unregistered', 'standby'],
  registering: ['registered', 'disconnected', 'expired', 'unregistered', 'standby'],
  registered: ['queued', 'connecting', 'disconnected', 'unregistered', 'expired', 'standby'],
  connected: ['disconnected', 'expired', 'standby'],
  disconnected: ['queued', 'connecting', 'expired', 'standby'],
  // disconnected: the store became unreachable while standing by (retried with backoff)
  standby: ['queued', 'connecting', 'disconnected'],
  expired: ['unregistered'],
  // logout() unlinks a failed session too
  failed: ['stopped', 'expired'],
  stopped: []
}

export const canTransition = (from: SessionState, to: SessionState): boolean =>
  NEXT[from].includes(to) || (from !== 'stopped' && from !== 'failed' && (ANYWHERE_TO as readonly string[]).includes(to))

/** States in which the session holds no socket and will not make one by itself. */
export const isFinal = (state: SessionState): boolean => state === 'failed' || state === 'stopped'
