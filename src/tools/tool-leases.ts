/**
 * Tools that write sessions (migrate, restore, prune, rotate-key) take each session's lease
 * first, like a bot does: against a live bot they fail with LEASE_HELD before writing
 * anything. A lease that expired without being released (its owner crashed, or is frozen and
 * may wake up) is taken only with `force`; the refusal says whether the owner's pid still
 * exists when it ran on this host, so --force is an informed choice.
 */
import type { LeaseGrant } from '../core/driver.js'
import { VaultError } from '../core/errors.js'
import { hostname } from 'node:os'
import { leaseOwner, parseOwner } from '../drivers/shared-lease.js'
import type { Store } from '../store/store.js'
import { isStagingSession } from '../store/validate.js'

export interface ToolLeaseOptions {
  /** Take leases that expired without a release (a dead owner). A live lease is never taken. */
  force?: boolean
  /** How long a killed tool blocks the session (renewed at a third of it). Default 30,000 ms. */
  leaseTtlMs?: number
}

const TOOL_TTL_MS = 30_000

const ownerText = (owner: string) => {
  const p = parseOwner(owner)
  return p ? `host ${p.host} pid ${p.pid}` : `owner "${owner}"`
}

/**
 * Refuses with LEASE_HELD, before anything is written, when `session` is leased by a live owner
 * (or, without `force`, by one that expired without a release). Tools that take the lease call
 * it through withSessionLeases; `drop` also calls it before asking the user to confirm.
 */
export async function assertLeaseFree(store: Store, session: string, options: ToolLeaseOptions = {}): Promise<void> {
  if (store.supportsLeases && !isStagingSession(session)) await checkFree(store, session, !!options.force)
}

/** This process's own lease (a scheduled backup runs inside the bot that owns the session). */
const ownedHere = (owner: string) => {
  const p = parseOwner(owner)
  return !!p && p.host === hostname() && p.pid === process.pid
}

/**
 * Tools that only read a session (the source of migrate and backup) refuse a session another
 * live process owns, with LEASE_HELD: its keys change while they are read, so the copy would be
 * neither the state before nor after. `what` says what was refused and what to do instead.
 * An expired lease (a crashed owner) is no obstacle to reading.
 */
export async function assertNoLiveOwner(store: Store, sessions: Iterable<string>, what: string): Promise<void> {
  if (!store.supportsLeases) return
  for (const session of new Set(sessions)) {
    const info = await store.leaseInfo(session)
    if (!info || info.expiresInMs <= 0 || ownedHere(info.owner)) continue
    throw new VaultError(
      'LEASE_HELD',
      `Session "${session}" on ${store.label} is in use by ${ownerText(info.owner)} (lease for ${Math.ceil(info.expiresInMs / 1000)} s more): ${what}. Nothing was written. Stop that process first: its graceful stop releases the lease.`
    )
  }
}

async function checkFree(store: Store, session: string, force: boolean): Promise<void> {
  const info = await store.leaseInfo(session)
  if (!info) return
  const who = ownerText(info.owner)
  if (info.expiresInMs > 0) {
    const left = `${Math.ceil(info.expiresInMs / 1000)} s`
    throw new VaultError(
      'LEASE_HELD',
      info.ownerAlive === false
        ? `Session "${session}" on ${store.label} is leased by ${who}, whose pid no longer exists on this host (it crashed without releasing it). Nothing was written. The lease expires in ${left}; then run again with --force (force: true).`
        : `Session "${session}" on ${store.label} is in use by ${who} (lease for ${left} more). Nothing was written. Stop that process first: its graceful stop releases the lease.`
    )
  }
  if (force) return
  const alive =
    info.ownerAlive === false
      ? `its pid no longer exists on this host, so it is dead: --force is safe`
      : info.ownerAlive === true
        ? `its pid still exists on this host (frozen or stopped?): stop it before using --force`
        : `it ran on another host and may be frozen rather than dead: make sure it is stopped before using --force`
  throw new VaultError(
    'LEASE_HELD',
    `Session "${session}" on ${store.label} was leased by ${who}, which never released it (expired ${Math.ceil(-info.expiresInMs / 1000)} s ago): ${alive}. Nothing was written. Run again with --force (force: true) to take it.`
  )
}

/**
 * Runs `work` holding the lease of every session in `sessions` (renewed at ttl/3), released
 * afterwards. `epochOf(session)` is the fencing token to stamp on writes to that session.
 * Stores without leases run `work` as before.
 */
export async function withSessionLeases<T>(
  store: Store,
  sessions: readonly string[],
  options: ToolLeaseOptions,
  work: (epochOf: (session: string) => number | undefined) => Promise<T>
): Promise<T> {
  if (!store.supportsLeases) return work(() => undefined)
  const owner = leaseOwner()
  const ttlMs = options.leaseTtlMs ?? TOOL_TTL_MS
  const grants = new Map<string, LeaseGrant>()
  const releaseAll = () => Promise.allSettled([...grants.values()].map(g => store.releaseLease(g)))
  try {
    for (const session of new Set(sessions)) await checkFree(store, session, !!options.force)
    for (const session of new Set(sessions)) grants.set(session, await store.acquireLease(session, { owner, ttlMs }))
  } catch (err) {
    await releaseAll()
    throw err
  }
  const renew = setInterval(() => {
    for (const [session, grant] of grants)
      store.renewLease(grant).then(
        g => grants.set(session, g),
        () => undefined
      )
  }, ttlMs / 3)
  renew.unref?.()
  try {
    return await work(session => grants.get(session)?.epoch)
  } finally {
    clearInterval(renew)
    await releaseAll()
  }
}
