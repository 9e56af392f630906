import type { LeaseCapability } from '../core/driver.js'
import { leaseCapability, leaseLost } from './shared-lease.js'

/** One session's lease record; kept after release so epochs never go back. */
export interface LeaseRecord {
  owner: string
  epoch: number
  /** performance.now() deadline: this process's monotonic clock is the backend's clock. */
  expiresAt: number
}

/**
 * In-process leases (tests, ephemeral bots). Every step is synchronous, so it is atomic with
 * respect to the driver's synchronous write body.
 */
export function memoryLease(records: Map<string, LeaseRecord>): { lease: LeaseCapability; fence(session: string, epoch: number | undefined): void } {
  const held = (r: LeaseRecord | undefined, owner: string, epoch: number) => !!r && r.owner === owner && r.epoch === epoch
  const lease = leaseCapability(
    {
      async acquire({ session, owner, ttlMs, replace }) {
        const now = performance.now()
        const r = records.get(session)
        if (r && r.owner !== '' && r.owner !== owner && r.owner !== replace && r.expiresAt > now) return { heldBy: r.owner, expiresInMs: r.expiresAt - now }
        const epoch = (r?.epoch ?? 0) + 1
        records.set(session, { owner, epoch, expiresAt: now + ttlMs })
        return { epoch }
      },
      async renew({ session, owner, epoch, ttlMs }) {
        const r = records.get(session)
        if (!r || !held(r, owner, epoch)) return false
        r.expiresAt = performance.now() + ttlMs
        return true
      },
      async release({ session, owner, epoch }) {
        const r = records.get(session)
        if (held(r, owner, epoch)) records.set(session, { owner: '', epoch, expiresAt: 0 })
      },
      async info(session) {
        const r = records.get(session)
        return r && r.owner !== '' ? { owner: r.owner, epoch: r.epoch, expiresInMs: r.expiresAt - performance.now() } : undefined
      }
    },
    undefined,
    { local: true }
  )
  const fence = (session: string, epoch: number | undefined) => {
    if (epoch === undefined) return
    const r = records.get(session)
    if (!r || r.owner === '' || r.epoch !== epoch) throw leaseLost(session, epoch)
  }
  return { lease, fence }
}
