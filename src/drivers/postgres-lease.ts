import type { LeaseCapability } from '../core/driver.js'
import { inTransaction } from './pg-transaction.js'
import type { NamedStatement, PgPoolLike, Tables } from './pg-types.js'
import type { PgLeaseEvents } from './postgres-notify.js'
import { leaseCapability, type AcquireStep, type ReleaseStep, type RenewStep } from './shared-lease.js'

/**
 * Leases in PostgreSQL: one row per session in {prefix}lease (owner, epoch, expires_at,
 * backend_pid), kept after release so the epoch never goes back. Every step is one statement
 * and every time is the server's `now()`, so no two hosts' clocks are ever compared. The table
 * is created on first use (under the schema's advisory lock), so stores that never lease need
 * no DDL right. The write's fence is in postgres.ts (writeText): a FOR SHARE lock on this row
 * in the write statement itself.
 *
 * Telling sooner that an owner is dead: an owner stamps its lease with the backend pid of its
 * process's listening connection (postgres-notify.ts). When that backend is no longer in
 * pg_stat_activity, the owner's process died or lost the database, and acquire takes the lease
 * at once instead of waiting for the TTL. A reused backend pid only looks alive (the TTL then
 * decides), never dead. Release notifies the store's channel in the same statement.
 */
export function postgresLease(
  pool: PgPoolLike,
  t: Pick<Tables, 'lease' | 'lockKey'>,
  named: <P extends object>(text: string) => NamedStatement<P>,
  events: PgLeaseEvents & { channel: string }
): LeaseCapability {
  /** A step's parameters plus this process's listening backend pid (null while it has none). */
  type Stamped<S> = S & { backendPid: number | null }
  const ms = (col: string) => `(extract(epoch FROM ${col} - now()) * 1000)::float8`
  const gone = `(l.backend_pid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = l.backend_pid))`
  const take = named<Stamped<Required<AcquireStep>>>(`
    WITH prev AS (SELECT owner, expires_at > now() AS live, backend_pid FROM ${t.lease} WHERE session = :session)
    INSERT INTO ${t.lease} AS l (session, owner, epoch, expires_at, backend_pid)
    VALUES (:session, :owner, 1, now() + :ttlMs::float8 * interval '1 millisecond', :backendPid::int)
    ON CONFLICT (session) DO UPDATE SET owner = excluded.owner, epoch = l.epoch + 1, expires_at = excluded.expires_at, backend_pid = excluded.backend_pid
    WHERE l.owner = '' OR l.owner = excluded.owner OR l.expires_at <= now() OR l.owner = :replace OR ${gone}
    RETURNING epoch, (SELECT owner FROM prev) AS prev_owner, (SELECT live FROM prev) AS prev_live, (SELECT backend_pid FROM prev) AS prev_pid`)
  const read = named<{ session: string }>(`SELECT owner, epoch, ${ms('expires_at')} AS ms FROM ${t.lease} WHERE session = :session`)
  const extend = named<Stamped<RenewStep>>(
    `UPDATE ${t.lease} SET expires_at = now() + :ttlMs::float8 * interval '1 millisecond', backend_pid = COALESCE(:backendPid::int, backend_pid)
     WHERE session = :session AND owner = :owner AND epoch = :epoch RETURNING 1`
  )
  const giveUp = named<ReleaseStep & { channel: string }>(`
    WITH u AS (UPDATE ${t.lease} SET owner = '', expires_at = now(), backend_pid = NULL WHERE session = :session AND owner = :owner AND epoch = :epoch RETURNING session)
    SELECT pg_notify(:channel, 'r:' || session) FROM u`)
  const restamp = named<{ backendPid: number; owners: string[] }>(`UPDATE ${t.lease} SET backend_pid = :backendPid::int WHERE owner = ANY(:owners::text[])`)

  let ready: Promise<void> | undefined
  const create = async () => {
    const exists = await pool.query({
      text: `SELECT to_regclass($1) IS NOT NULL AS ok, EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'backend_pid' AND NOT attisdropped) AS stamped`,
      values: [t.lease]
    })
    if (exists.rows[0].ok && exists.rows[0].stamped) return
    await inTransaction(pool, 'BEGIN', async client => {
      await client.query({ text: 'SELECT pg_advisory_xact_lock(hashtext($1))', values: [t.lockKey] })
      await client.query({
        text: `CREATE TABLE IF NOT EXISTS ${t.lease} (session text COLLATE "C" PRIMARY KEY, owner text COLLATE "C" NOT NULL, epoch bigint NOT NULL, expires_at timestamptz NOT NULL)`
      })
      // Added by a later version: stores made before it gain the column (NULL: TTL only).
      await client.query({ text: `ALTER TABLE ${t.lease} ADD COLUMN IF NOT EXISTS backend_pid integer` })
    })
  }
  const query = async <P extends object>(st: NamedStatement<P>, params: P) => {
    ready ??= create().catch(err => {
      ready = undefined
      throw err
    })
    await ready
    return (await pool.query(st(params))).rows
  }
  type Row = { owner: string; epoch: string; ms: number }

  // Owners this process holds leases for: re-stamped with the new backend pid when the listening connection comes back.
  const held = new Map<string, number>()
  events.onConnected(pid => {
    if (held.size) query(restamp, { backendPid: pid, owners: [...held.keys()] }).catch(() => undefined)
  })
  const hold = (owner: string, delta: number) => {
    const n = (held.get(owner) ?? 0) + delta
    if (n > 0) held.set(owner, n)
    else held.delete(owner)
  }

  return leaseCapability(
    {
      async acquire({ session, owner, ttlMs, replace }) {
        await events.settled(2_000)
        // A refusal reads the holder; if it let go in between, try again.
        for (;;) {
          const [taken] = await query(take, { session, owner, ttlMs, replace: replace ?? '', backendPid: events.backendPid() ?? null })
          if (taken) {
            hold(owner, 1)
            const foreign = taken.prev_live && taken.prev_owner && taken.prev_owner !== owner && taken.prev_owner !== replace
            return foreign
              ? { epoch: Number(taken.epoch), tookOver: `the database connection of the owner (backend pid ${taken.prev_pid}) is gone; taking over` }
              : { epoch: Number(taken.epoch) }
          }
          const [row] = (await query(read, { session })) as Row[]
          if (row && row.owner !== '' && row.ms > 0) return { heldBy: row.owner, expiresInMs: row.ms }
        }
      },
      async renew({ session, owner, epoch, ttlMs }) {
        return (await query(extend, { session, owner, epoch, ttlMs, backendPid: events.backendPid() ?? null })).length === 1
      },
      async release({ session, owner, epoch }) {
        await query(giveUp, { session, owner, epoch, channel: events.channel })
        hold(owner, -1)
      },
      async info(session) {
        const [row] = (await query(read, { session })) as Row[]
        return row && row.owner !== '' ? { owner: row.owner, epoch: Number(row.epoch), expiresInMs: row.ms } : undefined
      }
    },
    undefined,
    { watch: events.watch, announce: events.announce }
  )
}
