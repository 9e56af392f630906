import type { LeaseCapability } from '../core/driver.js'
import { inTransaction } from './pg-transaction.js'
import type { PgPoolLike, Statement, Tables } from './pg-types.js'
import { leaseCapability } from './shared-lease.js'

/**
 * Leases in PostgreSQL: one row per session in {prefix}lease (owner, epoch, expires_at), kept
 * after release so the epoch never goes back. Every step is one statement and every time is
 * the server's `now()`, so no two hosts' clocks are ever compared. The table is created on
 * first use (under the schema's advisory lock), so stores that never lease need no DDL right.
 * The write's fence is in postgres.ts (writeText): a FOR SHARE lock on this row in the write
 * statement itself.
 */
export function postgresLease(pool: PgPoolLike, t: Pick<Tables, 'lease' | 'lockKey'>, statement: (text: string) => Statement): LeaseCapability {
  const ms = (col: string) => `(extract(epoch FROM ${col} - now()) * 1000)::float8`
  const take = statement(`
    INSERT INTO ${t.lease} AS l (session, owner, epoch, expires_at) VALUES ($1, $2, 1, now() + $3::float8 * interval '1 millisecond')
    ON CONFLICT (session) DO UPDATE SET owner = excluded.owner, epoch = l.epoch + 1, expires_at = excluded.expires_at
    WHERE l.owner = '' OR l.owner = excluded.owner OR l.expires_at <= now()
    RETURNING epoch`)
  const read = statement(`SELECT owner, epoch, ${ms('expires_at')} AS ms FROM ${t.lease} WHERE session = $1`)
  const extend = statement(
    `UPDATE ${t.lease} SET expires_at = now() + $4::float8 * interval '1 millisecond' WHERE session = $1 AND owner = $2 AND epoch = $3 RETURNING 1`
  )
  const giveUp = statement(`UPDATE ${t.lease} SET owner = '', expires_at = now() WHERE session = $1 AND owner = $2 AND epoch = $3`)

  let ready: Promise<void> | undefined
  const create = async () => {
    const exists = await pool.query({ text: 'SELECT to_regclass($1) IS NOT NULL AS ok', values: [t.lease] })
    if (exists.rows[0].ok) return
    await inTransaction(pool, 'BEGIN', async client => {
      await client.query({ text: 'SELECT pg_advisory_xact_lock(hashtext($1))', values: [t.lockKey] })
      await client.query({
        text: `CREATE TABLE IF NOT EXISTS ${t.lease} (session text COLLATE "C" PRIMARY KEY, owner text COLLATE "C" NOT NULL, epoch bigint NOT NULL, expires_at timestamptz NOT NULL)`
      })
    })
  }
  const query = async (st: Statement, values: unknown[]) => {
    ready ??= create().catch(err => {
      ready = undefined
      throw err
    })
    await ready
    return (await pool.query(st(values))).rows
  }
  type Row = { owner: string; epoch: string; ms: number }

  return leaseCapability({
    async acquire(session, owner, ttlMs) {
      // A refusal reads the holder; if it let go in between, try again.
      for (;;) {
        const [taken] = await query(take, [session, owner, ttlMs])
        if (taken) return { epoch: Number(taken.epoch) }
        const [row] = (await query(read, [session])) as Row[]
        if (row && row.owner !== '' && row.ms > 0) return { heldBy: row.owner, expiresInMs: row.ms }
      }
    },
    async renew(session, owner, epoch, ttlMs) {
      return (await query(extend, [session, owner, epoch, ttlMs])).length === 1
    },
    async release(session, owner, epoch) {
      await query(giveUp, [session, owner, epoch])
    },
    async info(session) {
      const [row] = (await query(read, [session])) as Row[]
      return row && row.owner !== '' ? { owner: row.owner, epoch: Number(row.epoch), expiresInMs: row.ms } : undefined
    }
  })
}
