/**
 * Calm mass starts: at most `maxConnecting` handshakes in flight per runtime. A session takes a
 * slot before it opens a socket and gives it back once the connection is open, shows a QR, or
 * closes; the others wait in the state `queued`, first come first served. A reconnect (after a
 * server restart or an outage, when every session closes at once) that finds the ramp full
 * first waits a random jitter, so the sessions do not return in lockstep.
 */
import { invalidArgument } from '../core/errors.js'

export const DEFAULT_MAX_CONNECTING = 8
/** Upper bound of a reconnect's random delay when the ramp is full (ms). */
export const RECONNECT_JITTER_MS = 500

export function checkMaxConnecting(value: unknown): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || (value as number) < 1))
    throw invalidArgument(`maxConnecting must be a whole number of at least 1 (handshakes in flight at once); got ${String(value)}.`)
}

export class ConnectRamp {
  private inFlight = 0
  private peakInFlight = 0
  private readonly queue: Array<() => void> = []

  constructor(readonly maxConnecting = DEFAULT_MAX_CONNECTING) {
    checkMaxConnecting(maxConnecting)
  }

  get full(): boolean {
    return this.inFlight >= this.maxConnecting
  }

  /**
   * A slot now (`immediate`), or a place in the queue. `cancel` leaves the queue: true if it did,
   * false when the slot had already been given (the caller then holds it and must leave()).
   */
  enter(): { immediate: boolean; slot: Promise<void>; cancel(): boolean } {
    if (!this.full && this.queue.length === 0) {
      this.take()
      return { immediate: true, slot: Promise.resolve(), cancel: () => false }
    }
    let turn!: () => void
    const slot = new Promise<void>(resolve => (turn = resolve))
    const entry = () => {
      this.take()
      turn()
    }
    this.queue.push(entry)
    return {
      immediate: false,
      slot,
      cancel: () => {
        const at = this.queue.indexOf(entry)
        if (at < 0) return false
        this.queue.splice(at, 1)
        return true
      }
    }
  }

  /** Gives a slot back: the next queued session takes it. */
  leave(): void {
    this.inFlight--
    this.queue.shift()?.()
  }

  stats(): { inFlight: number; queued: number; peakInFlight: number; maxConnecting: number } {
    return { inFlight: this.inFlight, queued: this.queue.length, peakInFlight: this.peakInFlight, maxConnecting: this.maxConnecting }
  }

  private take(): void {
    this.inFlight++
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight)
  }
}

/** One session's use of the ramp: at most one slot, given back exactly once. */
export class RampSlot {
  private holding = false
  /** Undone by free(): the jitter timer or the queue entry, and the wait's wake-up. */
  private pending?: { undo(): void; wake(): void }

  constructor(private readonly ramp: ConnectRamp) {}

  /** Waits for a slot; `onQueued` runs once when it must wait. False when free() cancelled the wait (the session stopped). */
  async take(options: { reconnect: boolean; onQueued(): void }): Promise<boolean> {
    this.free()
    let told = false
    const queued = () => {
      if (!told) options.onQueued()
      told = true
    }
    if (options.reconnect && this.ramp.full) {
      queued()
      const slept = await new Promise<boolean>(resolve => {
        const timer = setTimeout(() => resolve(true), Math.random() * RECONNECT_JITTER_MS)
        this.pending = { undo: () => clearTimeout(timer), wake: () => resolve(false) }
      })
      this.pending = undefined
      if (!slept) return false
    }
    const entry = this.ramp.enter()
    if (!entry.immediate) queued()
    let cancelled = false
    const got = await new Promise<boolean>(resolve => {
      void entry.slot.then(() => resolve(true))
      this.pending = {
        // Already given the slot: hold it, so free() below gives it back.
        undo: () => void (entry.cancel() || (this.holding = true)),
        wake: () => {
          cancelled = true
          resolve(false)
        }
      }
    })
    if (!got || cancelled) return false
    this.pending = undefined
    this.holding = true
    return true
  }

  /** Gives the slot back, or leaves the queue. Safe to call any number of times. */
  free(): void {
    const pending = this.pending
    this.pending = undefined
    pending?.undo()
    pending?.wake()
    if (this.holding) {
      this.holding = false
      this.ramp.leave()
    }
  }
}
