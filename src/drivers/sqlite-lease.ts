import type BetterSqlite3 from 'better-sqlite3'
import type { LeaseCapability } from '../core/driver.js'
import { leaseCapability, leaseLost, type AcquireStep } from './shared-lease.js'

/**
 * Leases in a SQLite file: one row per session, kept after release so the epoch never goes
 * back. The clock is SQLite's `julianday('now')`, i.e. the clock of the host that shares the
 * file: every process using one SQLite file runs on that one machine, so there is one clock.
 * Steps run in IMMEDIATE transactions (they take the write lock first, so two processes never
 * deadlock upgrading a read), and the fence runs inside the write's transaction.
 */
const NOW_MS = `((julianday('now') - 2440587.5) * 86400000.0)`

export function sqliteLease(db: BetterSqlite3.Database): { lease: LeaseCapability; fence(session: string, epoch: number | undefined): void } {
  /** Table and statements on first use: a store that never leases is never written to for it. */
  let prepared: ReturnType<typeof prepare> | undefined
  const st = () => (prepared ??= prepare())
  /** Reading a lease creates nothing: no table yet means no lease was ever taken (and a read-only open cannot create one). */
  const hasTable = () => prepared !== undefined || db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'vault_lease'`).get() !== undefined
  const prepare = () => {
    db.exec(`CREATE TABLE IF NOT EXISTS vault_lease (
      session TEXT PRIMARY KEY, owner TEXT NOT NULL, epoch INTEGER NOT NULL, expires_at REAL NOT NULL
    ) WITHOUT ROWID`)
    const take = db
      .prepare(
        `INSERT INTO vault_lease (session, owner, epoch, expires_at) VALUES (@session, @owner, 1, ${NOW_MS} + @ttlMs)
      ON CONFLICT (session) DO UPDATE SET owner = excluded.owner, epoch = epoch + 1, expires_at = excluded.expires_at
      WHERE owner = '' OR owner = excluded.owner OR expires_at <= ${NOW_MS} OR owner = @replace
      RETURNING epoch`
      )
      .pluck()
    const read = db.prepare(`SELECT owner, epoch, expires_at - ${NOW_MS} AS expiresInMs FROM vault_lease WHERE session = @session`)
    const extend = db.prepare(`UPDATE vault_lease SET expires_at = ${NOW_MS} + @ttlMs WHERE session = @session AND owner = @owner AND epoch = @epoch`)
    const giveUp = db.prepare(`UPDATE vault_lease SET owner = '', expires_at = 0 WHERE session = @session AND owner = @owner AND epoch = @epoch`)
    const current = db.prepare(`SELECT epoch FROM vault_lease WHERE session = @session AND owner <> ''`).pluck()

    const acquire = db.transaction((step: Required<AcquireStep>) => {
      const epoch = take.get(step) as number | undefined
      if (epoch !== undefined) return { epoch }
      const row = read.get({ session: step.session }) as Row
      return { heldBy: row.owner, expiresInMs: row.expiresInMs }
    })
    return { read, extend, giveUp, current, acquire }
  }
  type Row = { owner: string; epoch: number; expiresInMs: number }

  const lease = leaseCapability(
    {
      async acquire({ session, owner, ttlMs, replace }) {
        // '' never matches here: an empty owner is already free.
        return st().acquire.immediate({ session, owner, ttlMs, replace: replace ?? '' })
      },
      async renew({ session, owner, epoch, ttlMs }) {
        return st().extend.run({ session, owner, epoch, ttlMs }).changes === 1
      },
      async release({ session, owner, epoch }) {
        st().giveUp.run({ session, owner, epoch })
      },
      async info(session) {
        if (!hasTable()) return undefined
        const row = st().read.get({ session }) as Row | undefined
        return row && row.owner !== '' ? row : undefined
      }
    },
    undefined,
    { local: true }
  )
  return {
    lease,
    /** Call inside the write transaction: throws LEASE_LOST, which rolls the batch back. */
    fence(session, epoch) {
      if (epoch !== undefined && st().current.get({ session }) !== epoch) throw leaseLost(session, epoch)
    }
  }
}
