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
 *
 * On PostgreSQL and Redis the members also hear each other (rebalance.ts): a joining instance
 * is given sessions by the busier ones, one graceful handoff at a time, until the spread is
 * within one; a stopping one says goodbye and releases its sessions, and every release wakes
 * the others' claiming round at once (no wait for the next poll).
 */
import { hostname } from 'node:os'
import { VaultError } from '../core/errors.js'
import { parseOwner } from '../drivers/shared-lease.js'
import { leaseWaker } from './lease-wake.js'
import { FleetMembers, Rebalancer } from './rebalance.js'
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
  let again = false
  let heartbeat = true
  const mine = () => runtime.sessions().filter(s => s.state !== 'failed' && s.state !== 'stopped').length
  const poll = (): Promise<void> => {
    if (running) {
      again = true
      return running
    }
    return (running = round().finally(() => {
      running = undefined
      if (again && !stopped) {
        again = false
        void poll().catch(err => options.onError?.(err))
      }
    }))
  }
  const wake = () => void (stopped || poll().catch(err => options.onError?.(err)))
  const members = new FleetMembers(store, self, ttlMs, wake)
  const stopWatching = leaseWaker(store).onRelease(wake)
  const rebalancer = new Rebalancer({
    self,
    ttlMs,
    candidates: () =>
      runtime
        .sessions()
        .filter(s => s.state === 'connected')
        .map(s => s.sessionId),
    handOver: id => runtime.remove(id)
  })

  const round = async () => {
    const ids: string[] = []
    for await (const id of store.sessions()) ids.push(id)
    const owners = new Set([self, ...members.live()])
    const counts = new Map<string, number>()
    const holders = new Map<string, string>()
    const free: string[] = []
    for (const id of ids.sort()) {
      const info = await store.leaseInfo(id)
      // A holder on this host whose pid is gone is dead: its sessions are free (acquire takes them at once).
      if (info && info.expiresInMs > 0 && info.ownerAlive !== false) {
        const owner = processOf(info.owner)
        owners.add(owner)
        holders.set(id, owner)
        counts.set(owner, (counts.get(owner) ?? 0) + 1)
      } else if (!runtime.get(id)) free.push(id)
    }
    const average = Math.ceil(ids.length / owners.size)
    await claim(free, average)
    if (stopped) return
    await members.announce(mine(), capacity, heartbeat)
    heartbeat = false
    // Members with room for one more session, this one included (its own count is what it runs).
    const loads = new Map([...owners].filter(o => o === self || members.hasRoom(o)).map(o => [o, o === self ? mine() : (counts.get(o) ?? 0)]))
    await rebalancer.step(loads, id => holders.get(id))
  }

  const claim = async (free: string[], average: number) => {
    for (const id of free) {
      if (stopped || mine() >= Math.min(capacity, average)) return
      try {
        // The store's TTL floor rises with its round trips under load: claim with at least that.
        const session = await runtime.start(id, { lease: { ttlMs: Math.max(ttlMs, store.minLeaseTtlMs), wait: false } })
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

  const timer = setInterval(
    () => {
      heartbeat = true
      wake()
    },
    Math.max(1, Math.floor(ttlMs / 3))
  )
  return {
    poll,
    stop() {
      if (stopped) return
      stopped = true
      clearInterval(timer)
      stopWatching()
      members.bye().catch(() => undefined)
    }
  }
}
