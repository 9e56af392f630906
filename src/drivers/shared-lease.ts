import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { LeaseCapability, LeaseInfo } from '../core/driver.js'
import { VaultError, invalidArgument } from '../core/errors.js'
import { processAlive } from './file-io.js'

/**
 * What every driver's lease shares: argument checks, the TTL floor, owner strings and the two
 * lease errors. A driver supplies only the backend steps (RawLeaseOps), each one atomic.
 */

/** The smallest TTL any store accepts, whatever its round trip (ms). */
export const LEASE_TTL_FLOOR_MS = 200
/** A TTL must cover this many lease round trips: renewal runs at ttl/3. */
const ROUND_TRIPS_PER_TTL = 3
const RECENT = 10

/** A fresh owner id for this process: `host:pid:random`. */
export const leaseOwner = (): string => `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`

/** Host and pid of an owner string, when it has the `host:pid:random` shape. */
export function parseOwner(owner: string): { host: string; pid: number } | undefined {
  const [, host, pid] = /^(.*):(\d+):[^:]*$/.exec(owner) ?? []
  return host !== undefined && pid !== undefined ? { host, pid: Number(pid) } : undefined
}

const describeOwner = (owner: string) => {
  const parsed = parseOwner(owner)
  return parsed ? `host ${parsed.host} pid ${parsed.pid}` : `owner "${owner}"`
}

/** The pid of an owner on this host whose process no longer exists (it crashed holding the lease). */
export function deadLocalOwner(owner: string): number | undefined {
  const parsed = parseOwner(owner)
  return parsed && parsed.host === hostname() && !processAlive(parsed.pid) ? parsed.pid : undefined
}

export const leaseHeld = (session: string, owner: string, expiresInMs: number): VaultError =>
  new VaultError(
    'LEASE_HELD',
    `Session "${session}" is leased by ${describeOwner(owner)} for up to ${Math.max(1, Math.ceil(expiresInMs / 1000))} s more. Stop that process (a graceful stop releases the lease), wait for it to expire, or wait as a standby.`
  )

export const leaseLost = (session: string, epoch: number): VaultError =>
  new VaultError(
    'LEASE_LOST',
    `The lease of session "${session}" at epoch ${epoch} is no longer held: another owner took it over or it was released. Nothing of this write landed; stop using the session in this process.`
  )

/**
 * A step's parameters, named as the lease rows' columns so that a driver binds them to its
 * statement by name (SQLite's `@owner`, PostgreSQL's `:owner`).
 */
export interface AcquireStep {
  session: string
  owner: string
  ttlMs: number
  /** An owner known dead, whose lease may be taken although it has not expired (same atomic step). */
  replace?: string
}
export interface RenewStep {
  session: string
  owner: string
  epoch: number
  ttlMs: number
}
export interface ReleaseStep {
  session: string
  owner: string
  epoch: number
}

/** The backend steps of a lease; each is one atomic operation on the backend's clock. */
export interface RawLeaseOps {
  /**
   * The new epoch, or who holds it and for how long (ms, backend clock).
   * `tookOver`: the backend itself knew the owner dead (PostgreSQL: its connection is gone).
   */
  acquire(step: AcquireStep): Promise<{ epoch: number; tookOver?: string } | { heldBy: string; expiresInMs: number }>
  /** Whether `owner` still held `epoch` (and now holds it for ttlMs more). */
  renew(step: RenewStep): Promise<boolean>
  release(step: ReleaseStep): Promise<void>
  /** Undefined when nobody holds it (never acquired, or released). */
  info(session: string): Promise<Omit<LeaseInfo, 'ownerAlive'> | undefined>
}

function checkOwner(owner: unknown): asserts owner is string {
  if (typeof owner !== 'string' || owner.trim().length === 0 || owner.length > 200) {
    throw invalidArgument('A lease owner must be a non-empty string of at most 200 characters, e.g. leaseOwner() (host:pid:random).')
  }
}

function checkEpoch(epoch: unknown): asserts epoch is number {
  if (!Number.isSafeInteger(epoch) || (epoch as number) < 1)
    throw invalidArgument(`A lease epoch is a positive integer returned by acquire; got ${String(epoch)}.`)
}

/** What a driver adds beyond the steps: its push channel (watch/announce) and whether it is local. */
export type LeaseExtras = Pick<LeaseCapability, 'watch' | 'announce' | 'local'>

/** Wraps backend steps into the contract: checks, the TTL floor from measured round trips, errors. */
export function leaseCapability(ops: RawLeaseOps, floorMs = LEASE_TTL_FLOOR_MS, extras: LeaseExtras = {}): LeaseCapability {
  const recent: number[] = []
  const timed = async <T>(step: () => Promise<T>): Promise<T> => {
    const started = performance.now()
    const result = await step()
    recent.push(performance.now() - started)
    if (recent.length > RECENT) recent.shift()
    return result
  }
  const minTtlMs = () => Math.max(floorMs, Math.ceil(ROUND_TRIPS_PER_TTL * Math.max(0, ...recent)))
  const checkTtl = (ttlMs: unknown): number => {
    const min = minTtlMs()
    if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs < min) {
      throw invalidArgument(
        `A lease TTL must be at least ${min} ms here (3x the lease round trip, at least ${floorMs} ms); got ${String(ttlMs)}. Use a longer TTL, e.g. 30000.`
      )
    }
    return Math.round(ttlMs)
  }

  return {
    ...extras,
    get minTtlMs() {
      return minTtlMs()
    },
    async acquire(session, { owner, ttlMs }) {
      checkOwner(owner)
      const ttl = checkTtl(ttlMs)
      let result = await timed(() => ops.acquire({ session, owner, ttlMs: ttl }))
      let tookOver = 'tookOver' in result ? result.tookOver : undefined
      // Held by a process of this host that no longer exists: it crashed, take it now (the
      // epoch still fences it, should it somehow be alive). Compare-and-set on that owner.
      const dead = 'heldBy' in result ? deadLocalOwner(result.heldBy) : undefined
      if ('heldBy' in result && dead !== undefined) {
        const replace = result.heldBy
        result = await timed(() => ops.acquire({ session, owner, ttlMs: ttl, replace }))
        tookOver = `pid ${dead} on this host is gone; taking over`
      }
      if ('heldBy' in result) throw leaseHeld(session, result.heldBy, result.expiresInMs)
      return { session, owner, epoch: result.epoch, ttlMs: ttl, ...(tookOver ? { tookOver } : {}) }
    },
    async renew(session, { owner, epoch, ttlMs }) {
      checkOwner(owner)
      checkEpoch(epoch)
      const ttl = checkTtl(ttlMs)
      if (!(await timed(() => ops.renew({ session, owner, epoch, ttlMs: ttl })))) throw leaseLost(session, epoch)
      return { session, owner, epoch, ttlMs: ttl }
    },
    async release(session, { owner, epoch }) {
      checkOwner(owner)
      checkEpoch(epoch)
      await ops.release({ session, owner, epoch })
    },
    async leaseInfo(session) {
      const info = await ops.info(session)
      if (!info) return undefined
      const parsed = parseOwner(info.owner)
      return parsed && parsed.host === hostname() ? { ...info, ownerAlive: processAlive(parsed.pid) } : info
    }
  }
}
