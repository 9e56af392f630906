/** Per-session counters. `snapshot()` is plain data (the operations issue exports it as metrics). */
import type { MessageStoreStats } from '../store/message-store.js'
import type { SessionState, StateReason } from './states.js'
import type { LeaseStats } from './lease.js'

export interface SessionStats {
  sessionId: string
  state: SessionState
  /** ISO time the session was started and the current state was entered. */
  startedAt: string
  stateSince: string
  /** Connections that reached `connected`. */
  connections: number
  /** Closes by DisconnectReason code ('none' when Baileys gave no code). */
  disconnects: Record<string, number>
  reconnectAttempts: number
  messagesIn: number
  messagesOut: number
  decryptFailures: number
  /** Errors thrown by `socket` listeners (logged; the session stays up). */
  listenerErrors: number
  /** Watchdog-forced reconnects. */
  watchdogReconnects: number
  /** Time spent connected, and its share of the time since start (0..1). */
  connectedMs: number
  uptimeRatio: number
  /** saveCreds calls, creds writes made, and writes saved by coalescing. */
  creds: { saves: number; writes: number; coalesced: number }
  lastError?: { code?: number | string; message: string; at: string }
  /** The session's lease (absent when leases are off). */
  lease?: LeaseStats
  /** The retry store (absent with `messages: false`): size, resends served, retry requests it could not answer and why. */
  messages?: MessageStoreStats
}

export class Analytics {
  readonly startedAt: number
  private stateSince: number
  private connectedSince?: number
  private connectedTotal = 0
  connections = 0
  readonly disconnects: Record<string, number> = {}
  reconnectAttempts = 0
  messagesIn = 0
  messagesOut = 0
  decryptFailures = 0
  listenerErrors = 0
  watchdogReconnects = 0
  lastError?: SessionStats['lastError']

  constructor(
    private readonly now: () => number,
    private readonly sessionId: string
  ) {
    this.startedAt = this.stateSince = now()
  }

  enter(state: SessionState): void {
    const t = this.now()
    if (this.connectedSince !== undefined) {
      this.connectedTotal += t - this.connectedSince
      this.connectedSince = undefined
    }
    if (state === 'connected') {
      this.connections++
      this.connectedSince = t
    }
    this.stateSince = t
  }

  /** How long the session has been `connected`, i.e. the current connection's age; undefined when not connected. */
  connectedForMs(): number | undefined {
    return this.connectedSince === undefined ? undefined : this.now() - this.connectedSince
  }

  disconnected(reason: StateReason): void {
    const key = String(reason.code ?? 'none')
    this.disconnects[key] = (this.disconnects[key] ?? 0) + 1
  }

  error(code: number | string | undefined, message: string): void {
    this.lastError = { code, message, at: new Date(this.now()).toISOString() }
  }

  snapshot(state: SessionState, creds: SessionStats['creds']): SessionStats {
    const t = this.now()
    const connectedMs = this.connectedTotal + (this.connectedSince === undefined ? 0 : t - this.connectedSince)
    const elapsed = t - this.startedAt
    return {
      sessionId: this.sessionId,
      state,
      startedAt: new Date(this.startedAt).toISOString(),
      stateSince: new Date(this.stateSince).toISOString(),
      connections: this.connections,
      disconnects: { ...this.disconnects },
      reconnectAttempts: this.reconnectAttempts,
      messagesIn: this.messagesIn,
      messagesOut: this.messagesOut,
      decryptFailures: this.decryptFailures,
      listenerErrors: this.listenerErrors,
      watchdogReconnects: this.watchdogReconnects,
      connectedMs,
      uptimeRatio: elapsed > 0 ? Math.min(1, connectedMs / elapsed) : 0,
      creds: { ...creds },
      lastError: this.lastError && { ...this.lastError }
    }
  }
}
