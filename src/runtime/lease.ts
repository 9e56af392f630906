/**
 * The session's lease in the runtime: taken before connecting, renewed at ttl/3, given up after
 * a graceful stop. While another live owner holds it the session waits as a hot standby,
 * polling at ttl/3. Losing it (a failed renewal, a write refused with LEASE_LOST) is reported
 * once through `onLost`; the session ends its socket at once and never retries the write.
 */
import type { VaultAuthState } from '../auth/auth-state.js'
import type { LeaseGrant } from '../core/driver.js'
import { VaultError, invalidArgument } from '../core/errors.js'
import { LEASE_TTL_FLOOR_MS, leaseOwner } from '../drivers/shared-lease.js'
import type { Store } from '../store/store.js'
import { leaseWaker, type WakeCause } from './lease-wake.js'

export interface LeaseOptions {
  /** Lease time to live (ms). Renewed and polled at a third of it. Default 30,000. */
  ttlMs?: number
  /** Held by another live owner: wait as a standby (default) or fail at once with LEASE_HELD. */
  wait?: boolean
  /** Owner id; default `host:pid:random` (leaseOwner()). */
  owner?: string
}

/** `false` opts out: no lease, no fencing (one process per session is then up to you). */
export type LeaseSetting = false | LeaseOptions

export const DEFAULT_LEASE_TTL_MS = 30_000

export function checkLeaseSetting(lease: unknown): void {
  if (lease === undefined || lease === false) return
  if (typeof lease !== 'object' || lease === null || Array.isArray(lease)) throw invalidArgument('lease must be false or { ttlMs?, wait?, owner? }.')
  const { ttlMs, wait, owner } = lease as LeaseOptions
  if (ttlMs !== undefined && (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs < LEASE_TTL_FLOOR_MS)) {
    throw invalidArgument(`lease.ttlMs must be at least ${LEASE_TTL_FLOOR_MS} ms (and at least 3 store round trips); got ${String(ttlMs)}.`)
  }
  if (wait !== undefined && typeof wait !== 'boolean') throw invalidArgument('lease.wait must be true (wait as a standby) or false (fail with LEASE_HELD).')
  if (owner !== undefined && (typeof owner !== 'string' || owner.trim() === '')) throw invalidArgument('lease.owner must be a non-empty string.')
}

export const isLeaseLost = (err: unknown): boolean => err instanceof VaultError && err.code === 'LEASE_LOST'

export interface LeaseStats {
  /** held | standby | none (not taken yet, released, or leases off). */
  state: 'held' | 'standby' | 'none'
  epoch?: number
  /** Times this session took the lease after waiting as a standby. */
  takeovers: number
  /** Renewals or writes refused with LEASE_LOST. */
  lost: number
  /** What woke the standby the last time (released: pushed by the store; poll: the ttl/3 fallback). */
  lastWake?: WakeCause
}

export class SessionLease {
  readonly owner: string
  readonly ttlMs: number
  readonly wait: boolean
  private grant?: LeaseGrant
  private renewTimer?: NodeJS.Timeout
  private pollTimer?: { cancel(): void }
  private lastWake?: WakeCause
  private note?: string
  private lastRenewedAt = 0
  private waiting = false
  private closed = false
  private lastHeld?: VaultError
  private attempted = false
  private takeovers = 0
  private lostCount = 0

  constructor(
    private readonly store: Store,
    private readonly sessionId: string,
    options: LeaseOptions,
    /** Called once per loss, synchronously, before anything else can run. */
    private readonly onLost: (err: VaultError) => void
  ) {
    this.owner = options.owner ?? leaseOwner()
    this.ttlMs = options.ttlMs ?? DEFAULT_LEASE_TTL_MS
    this.wait = options.wait ?? true
    leaseWaker(store) // subscribes to the store's lease events now, before the first attempt
  }

  /**
   * The TTL asked of renewals and standby polls: the configured one, raised to the store's
   * current floor (3x the slowest recent round trip) when the backend slowed down, so a busy
   * moment is not mistaken for a lost lease. Only the first attempt refuses a too-short TTL.
   */
  private get workingTtlMs(): number {
    return Math.max(this.ttlMs, this.store.minLeaseTtlMs)
  }

  get held(): LeaseGrant | undefined {
    return this.grant
  }

  /**
   * One attempt: the grant, or undefined when another live owner holds it (LEASE_HELD is
   * thrown instead when `wait` is off). Bad TTLs and backend errors throw.
   */
  async tryTake(): Promise<LeaseGrant | undefined> {
    if (this.grant) return this.grant
    try {
      const ttlMs = this.attempted ? this.workingTtlMs : this.ttlMs
      this.attempted = true
      const grant = await this.store.acquireLease(this.sessionId, { owner: this.owner, ttlMs })
      if (this.closed) {
        await this.store.releaseLease(grant).catch(() => undefined)
        return undefined
      }
      this.grant = grant
      this.note = grant.tookOver
      this.lastRenewedAt = Date.now()
      this.scheduleRenewal()
      return grant
    } catch (err) {
      if (err instanceof VaultError && err.code === 'LEASE_HELD' && this.wait) {
        this.lastHeld = err
        return undefined
      }
      throw err
    }
  }

  /**
   * Takes the lease, waiting as a standby (polling at ttl/3) while another owner holds it;
   * `onStandby` is called when the first attempt finds it held (with the LEASE_HELD error, which
   * names the owner). Undefined once stopWaiting() was called.
   */
  async take(onStandby: (held: VaultError | undefined) => void): Promise<LeaseGrant | undefined> {
    let told = false
    this.waiting = true
    try {
      for (;;) {
        if (this.closed) return undefined
        const grant = await this.tryTake()
        if (grant && told) this.takeovers++
        if (grant || this.closed) return grant
        if (!told) onStandby(this.lastHeld)
        told = true
        // Woken at once by a release (pushed or seen locally), at the latest by the poll.
        const wake = leaseWaker(this.store).wait(this.sessionId, this.pollMs)
        this.pollTimer = wake
        this.lastWake = await wake.done
        this.pollTimer = undefined
      }
    } finally {
      this.waiting = false
    }
  }

  get pollMs(): number {
    return Math.max(1, Math.floor(this.ttlMs / 3))
  }

  /** Wraps an auth state so a write refused with LEASE_LOST reports the loss before the error reaches Baileys. */
  fence(auth: VaultAuthState): VaultAuthState {
    const guard =
      <A extends unknown[], T>(fn: (...args: A) => Promise<T>) =>
      (...args: A): Promise<T> =>
        fn(...args).catch((err: unknown) => {
          if (isLeaseLost(err)) this.lose(err as VaultError)
          throw err
        })
    const keys = auth.state.keys
    return {
      ...auth,
      saveCreds: guard(auth.saveCreds),
      state: {
        creds: auth.state.creds,
        keys: {
          ...keys,
          get: keys.get.bind(keys),
          set: guard(keys.set.bind(keys)),
          clear: guard(keys.clear.bind(keys)),
          listIds: keys.listIds.bind(keys),
          list: keys.list.bind(keys),
          allIds: keys.allIds.bind(keys)
        }
      }
    }
  }

  /**
   * Renews now, before a reconnect or after a 440: false when the lease turned out lost (the
   * loss was reported through onLost). A backend that does not answer is not a loss: the
   * writes are fenced anyway, and the renewal timer decides.
   */
  async confirm(): Promise<boolean> {
    const grant = this.grant
    if (!grant) return false
    try {
      const renewed = await this.store.renewLease(grant, { ttlMs: this.workingTtlMs })
      if (this.grant === grant) {
        this.grant = renewed
        this.lastRenewedAt = Date.now()
      }
    } catch (err) {
      if (isLeaseLost(err) && this.grant === grant) this.lose(err as VaultError)
    }
    return this.grant !== undefined
  }

  /** Stops a standby's polling (a stop began); a lease already held keeps being renewed. */
  stopWaiting(): void {
    this.closed = true
    this.pollTimer?.cancel()
  }

  /** Gives the lease up: call after the socket ended and the writes drained, so a standby takes over at once. */
  async release(): Promise<void> {
    this.stopWaiting()
    this.cancelTimers()
    const grant = this.grant
    this.grant = undefined
    if (grant) await this.store.releaseLease(grant)
  }

  stats(): LeaseStats {
    return {
      state: this.grant ? 'held' : this.waiting ? 'standby' : 'none',
      epoch: this.grant?.epoch,
      takeovers: this.takeovers,
      lost: this.lostCount,
      ...(this.lastWake ? { lastWake: this.lastWake } : {})
    }
  }

  /** Once, after a grant that took over from a dead owner: why (for the session's state reason). */
  takeNote(): string | undefined {
    const note = this.note
    this.note = undefined
    return note
  }

  private lose(err: VaultError): void {
    if (!this.grant) return // already reported
    this.grant = undefined
    this.lostCount++
    this.cancelTimers()
    this.onLost(err)
  }

  private scheduleRenewal(): void {
    this.renewTimer = setTimeout(() => void this.renew(), this.pollMs)
    this.renewTimer.unref?.()
  }

  private async renew(): Promise<void> {
    const grant = this.grant
    if (!grant || this.closed) return
    try {
      const renewed = await this.store.renewLease(grant, { ttlMs: this.workingTtlMs })
      if (this.grant !== grant) return
      this.grant = renewed
      this.lastRenewedAt = Date.now()
    } catch (err) {
      if (this.grant !== grant) return
      if (isLeaseLost(err)) return this.lose(err as VaultError)
      // The backend did not answer: the lease may still be ours, but not past the next renewal.
      // An outage (BACKEND_UNAVAILABLE), not a takeover: the session retries until the store is back.
      if (Date.now() - this.lastRenewedAt + this.pollMs >= this.ttlMs) {
        return this.lose(
          new VaultError('BACKEND_UNAVAILABLE', `The lease of session "${this.sessionId}" could not be renewed before it expires: ${(err as Error).message}`, {
            cause: err
          })
        )
      }
    }
    if (this.grant === grant || this.grant?.epoch === grant.epoch) this.scheduleRenewal()
  }

  private cancelTimers(): void {
    if (this.renewTimer) clearTimeout(this.renewTimer)
    this.renewTimer = undefined
    this.pollTimer?.cancel()
  }
}
