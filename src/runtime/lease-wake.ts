/**
 * Waking a standby as soon as its session's lease can be taken, instead of at its next poll.
 * One waker per store (and so one subscription, one listening connection, per process):
 *
 * - Stores with a push channel (PostgreSQL LISTEN/NOTIFY, Redis pub/sub): a release is heard
 *   at once (`released`). A holder on this host is also watched locally: when its pid is gone
 *   the standby wakes (`owner-gone`) without a store read.
 * - Local stores (SQLite, file:, memory:): every LOCAL_CHECK_MS one cheap lease read per waiting
 *   session: released, expired, or its owner's pid gone wakes it.
 *
 * The standby's poll at ttl/3 stays as the fallback (`poll`), for a missed notification.
 */
import type { LeaseEvent } from '../core/driver.js'
import { deadLocalOwner } from '../drivers/shared-lease.js'
import type { Store } from '../store/store.js'

/** How often a local store's lease is read for a waiting standby (ms). */
export const LOCAL_CHECK_MS = 250

/** Why a standby woke: a release was pushed, a local check saw it free or its owner dead, or the poll fell due. */
export type WakeCause = 'released' | 'owner-gone' | 'expired' | 'poll' | 'cancelled'

interface Waiter {
  session: string
  /** The holder seen when the wait began (push stores check its pid locally). */
  holder?: string
  wake(cause: WakeCause): void
}

class LeaseWaker {
  private readonly waiters = new Set<Waiter>()
  private readonly noteListeners = new Set<(note: string) => void>()
  private readonly releaseListeners = new Set<(session: string) => void>()
  private readonly push: boolean
  private timer?: NodeJS.Timeout
  private checking = false

  constructor(private readonly store: Store) {
    this.push = store.watchLeases(event => this.onEvent(event)) !== undefined
  }

  /** Resolves with the cause once the session may be free, or after `pollMs` at the latest. */
  wait(session: string, pollMs: number): { done: Promise<WakeCause>; cancel(): void } {
    let waiter!: Waiter
    const timer: { poll?: NodeJS.Timeout } = {}
    const done = new Promise<WakeCause>(resolve => {
      waiter = {
        session,
        wake: cause => {
          if (!this.waiters.delete(waiter)) return
          clearTimeout(timer.poll)
          this.idleCheck()
          resolve(cause)
        }
      }
    })
    this.waiters.add(waiter)
    timer.poll = setTimeout(() => waiter.wake('poll'), pollMs)
    if (this.push) {
      // Learn the holder once (for its pid), and catch a release that came before the subscription.
      this.store.leaseInfo(session).then(
        info => {
          if (!info || info.expiresInMs <= 0) waiter.wake('released')
          else waiter.holder = info.owner
        },
        () => undefined
      )
    }
    this.timer ??= setInterval(() => void this.check(), LOCAL_CHECK_MS)
    this.timer.unref?.()
    return { done, cancel: () => waiter.wake('cancelled') }
  }

  /** Fleet presence notes announced on the store (push stores only). */
  onNote(listener: (note: string) => void): () => void {
    this.noteListeners.add(listener)
    return () => this.noteListeners.delete(listener)
  }

  /** Every release of this store's leases (push stores only). */
  onRelease(listener: (session: string) => void): () => void {
    this.releaseListeners.add(listener)
    return () => this.releaseListeners.delete(listener)
  }

  get pushes(): boolean {
    return this.push
  }

  private onEvent(event: LeaseEvent): void {
    if ('note' in event) return this.noteListeners.forEach(l => l(event.note))
    for (const w of [...this.waiters]) if (w.session === event.released) w.wake('released')
    this.releaseListeners.forEach(l => l(event.released))
  }

  private async check(): Promise<void> {
    if (this.checking) return
    this.checking = true
    try {
      for (const w of [...this.waiters]) {
        if (this.push) {
          // After this turn's I/O: a release published just before the owner exited is read first.
          if (w.holder && deadLocalOwner(w.holder) !== undefined) setImmediate(() => w.wake('owner-gone'))
          continue
        }
        const info = await this.store.leaseInfo(w.session).catch(() => null)
        if (info === null) continue
        if (!info) w.wake('released')
        else if (info.ownerAlive === false) w.wake('owner-gone')
        else if (info.expiresInMs <= 0) w.wake('expired')
      }
    } finally {
      this.checking = false
    }
  }

  private idleCheck(): void {
    if (this.waiters.size > 0 || !this.timer) return
    clearInterval(this.timer)
    this.timer = undefined
  }
}

const wakers = new WeakMap<Store, LeaseWaker>()

/** The store's waker, made (and subscribed) on first use. */
export function leaseWaker(store: Store): LeaseWaker {
  let waker = wakers.get(store)
  if (!waker) wakers.set(store, (waker = new LeaseWaker(store)))
  return waker
}

export type { LeaseWaker }
