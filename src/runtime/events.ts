/**
 * Typed events of a session. Unlike Node's EventEmitter, an 'error' event with no listener does
 * not throw, and a listener that throws is reported to `onListenerError` instead of breaking the
 * session.
 */
import type { WASocket } from '../core/baileys.js'
import type { SessionState, StateReason } from './states.js'

export interface StateChange {
  sessionId: string
  state: SessionState
  previous: SessionState
  reason: StateReason
}

export interface SessionEvents {
  state: StateChange
  /** A QR string to show (linking by QR). */
  qr: string
  /** The 8-character code to type on the phone (linking by code). */
  'pairing-code': string
  /** Every new socket: register `sock.ev` handlers here so they survive reconnects. */
  socket: WASocket
  /** A backup written before the session was cleared (401, logout()). */
  backup: { file: string }
  /** A problem the session survived (a failed creds write, a throwing listener). */
  error: Error
}

export type Listener<E extends keyof SessionEvents> = (payload: SessionEvents[E]) => unknown

export class TypedEvents {
  private readonly listeners = new Map<keyof SessionEvents, Set<(payload: never) => unknown>>()

  constructor(private readonly onListenerError: (event: string, err: unknown) => void) {}

  on<E extends keyof SessionEvents>(event: E, listener: Listener<E>): void {
    let set = this.listeners.get(event)
    if (!set) this.listeners.set(event, (set = new Set()))
    set.add(listener)
  }

  off<E extends keyof SessionEvents>(event: E, listener: Listener<E>): void {
    this.listeners.get(event)?.delete(listener)
  }

  emit<E extends keyof SessionEvents>(event: E, payload: SessionEvents[E]): void {
    for (const listener of [...(this.listeners.get(event) ?? [])]) this.call(event, listener, payload)
  }

  /** Calls one listener; a throw or a rejected promise is reported, never propagated. */
  call(event: string, listener: (payload: never) => unknown, payload: unknown): void {
    try {
      const result = listener(payload as never)
      if (result && typeof (result as Promise<unknown>).then === 'function') (result as Promise<unknown>).catch(err => this.onListenerError(event, err))
    } catch (err) {
      this.onListenerError(event, err)
    }
  }
}
