/**
 * Fleet mode: several processes share one store and split its sessions between them. Each
 * process claims sessions nobody holds (never leased, released, or expired) up to its
 * capacity, and keeps polling for orphans (sessions of a process that died).
 *
 * Fairness rule: a process claims only while it runs fewer sessions than the fleet average,
 * ceil(sessions / live owners), where the live owners are the distinct processes holding an
 * unexpired lease, plus this one. So when one process dies, the survivors split its sessions
 * instead of the fastest poller taking them all; a process never takes a live session away.
 * A session this process loses (LEASE_LOST: it could not renew in time) is stopped and
 * forgotten, so it returns to the pool; one that fails for another reason stays failed here.
 * A store outage fails nothing: every session retries until the store answers (store-outage.ts),
 * and a failed round of claiming is reported and tried again at the next poll.
 */
import { hostname } from 'node:os'
import { VaultError } from '../core/errors.js'
import { parseOwner } from '../drivers/shared-lease.js'
import type { Runtime } from './runtime.js'
import type { Session } from './session.js'

export interface FleetOptions {
  runtime: Runtime
  /** Most sessions this process runs. */
  capacity: number
  ttlMs: number
  /** Called with every session this process starts. */
  onStart(session: Session): void
  onError?(err: unknown): void
}

const processOf = (owner: string) => {
  const parsed = parseOwner(owner)
  return parsed ? `${parsed.host}:${parsed.pid}` : owner
}

/** The session ended because another instance owns it now (not a failure of this one). */
export const lostToAnother = (session: Session): boolean => {
  const code = session.stats().lastError?.code
  return code === 'LEASE_LOST' || code === 'LEASE_HELD'
}

export interface Fleet {
  stop(): void
  /** One round of claiming now (also run every ttl/3). */
  poll(): Promise<void>
}

export function startFleet(options: FleetOptions): Fleet {
  const { runtime, capacity, ttlMs } = options
  const store = runtime.store
  const self = `${hostname()}:${process.pid}`
  let stopped = false
  let running: Promise<void> | undefined
  const mine = () => runtime.sessions().filter(s => s.state !== 'failed' && s.state !== 'stopped').length

  const round = async () => {
    const ids: string[] = []
    for await (const id of store.sessions()) ids.push(id)
    const owners = new Set([self])
    const free: string[] = []
    for (const id of ids.sort()) {
      const info = await store.leaseInfo(id)
      if (info && info.expiresInMs > 0) owners.add(processOf(info.owner))
      else if (!runtime.get(id)) free.push(id)
    }
    const average = Math.ceil(ids.length / owners.size)
    for (const id of free) {
      if (stopped || mine() >= Math.min(capacity, average)) return
      try {
        // The store's TTL floor rises with its round trips under load: claim with at least that.
        const session = await runtime.start(id, { lease: { ttlMs: Math.max(ttlMs, store.driver.lease?.minTtlMs ?? 0), wait: false } })
        // Lost to another instance (LEASE_LOST, or LEASE_HELD when it took over during a store outage): back to the pool, claimable again later.
        session.on('state', ({ state }) => {
          if (state === 'failed' && !stopped && lostToAnother(session)) void runtime.remove(id).catch(err => options.onError?.(err))
        })
        options.onStart(session)
      } catch (err) {
        if (!(err instanceof VaultError && err.code === 'LEASE_HELD')) options.onError?.(err)
      }
    }
  }

  const poll = () => (running ??= round().finally(() => (running = undefined)))
  const timer = setInterval(() => void poll().catch(err => options.onError?.(err)), Math.max(1, Math.floor(ttlMs / 3)))
  return {
    poll,
    stop() {
      stopped = true
      clearInterval(timer)
    }
  }
}
