import { loadPeer } from '../core/peer.js'
import type { Driver, ListEntry, ListOptions, SnapshotReader } from '../core/driver.js'
import { VaultError, invalidArgument, renameTargetTaken } from '../core/errors.js'
import { parsePostgresUrl } from '../core/server-url.js'
import { pageThrough } from './paging.js'
import { refuseWrites } from './read-only.js'
import { postgresLease } from './postgres-lease.js'
import { pgLeaseChannel, postgresLeaseEvents } from './postgres-notify.js'
import { inTransaction } from './pg-transaction.js'
import { GroupCommit } from './group-commit.js'
import { tuneValueStorage, valueStorageFor } from './pg-value-storage.js'
import { postgresWriter, writeText, type WriteShape, type WriteText } from './postgres-write.js'
import { namedStatementOf, statementOf, type NamedStatement, type PgPoolLike, type PgQueryable, type Statement, type Tables } from './pg-types.js'

export type { PgClientLike, PgPoolLike, PgQueryable } from './pg-types.js'

/**
 * PostgreSQL via `pg`. Many sessions in two tables:
 *
 *   {prefix}creds (session, value bytea)            one row per session
 *   {prefix}keys  (session, type, id, value bytea)  primary key (session, type, id)
 *   {prefix}meta  (key, value)                      schema_version
 *
 * Text columns use the "C" collation (bytewise order: fast, and the same order everywhere).
 * Large values are compressed with lz4, or not at all, instead of pglz (pg-value-storage.ts).
 * The schema is created on first use inside a transaction holding an advisory lock, so two
 * processes opening an empty database at once do not race; a newer schema version is refused.
 *
 * Every `write` is ONE statement (upsert creds, bulk upsert keys from `unnest` arrays, bulk
 * delete: only the parts it needs, as data-modifying CTEs when more than one), i.e. one
 * implicit transaction and one round trip whatever the batch size; with group commit (the default) one statement carries the batches of every
 * session that wrote meanwhile (postgres-write.ts). `get` of many ids is one query; `list`/`sessions` use keyset paging.
 *
 * Durability: the server's. With PostgreSQL's defaults (`fsync=on`, `synchronous_commit=on`)
 * a write resolves only after its commit record is flushed to the WAL on disk: it survives a
 * crash of the client, of the server and of the machine. If you set `synchronous_commit=off`
 * the last ~600 ms of acknowledged writes can be lost on a server crash — do not for auth data.
 *
 * Outages: a query while the server is down rejects (ECONNREFUSED, terminated connection…);
 * the store layer turns that into `BACKEND_UNAVAILABLE`. The pool drops broken connections and
 * opens new ones when the server is back, so the same store keeps working after a restart.
 */
export interface PostgresDriverOptions {
  /** `postgres://user:pass@host:port/db` (any `pg` connection string). Ignored when `pool` is given. */
  url?: string
  /**
   * A user-owned `pg.Pool` (or anything with the same `query`/`connect` shape); baileys-vault
   * will not end it. Attach your own `pool.on('error', …)` handler: without one, an idle
   * connection dropped by a server restart makes `pg` emit an unhandled 'error' event.
   */
  pool?: PgPoolLike
  /** Schema holding the tables (created if missing). Default: the connection's search_path (usually `public`). */
  schema?: string
  /** Prefix of the table names. Default `vault_` (tables vault_meta, vault_creds, vault_keys). */
  tablePrefix?: string
  /** Extra `pg.PoolConfig` for the pool built from `url` (max, ssl, statement_timeout, …). */
  poolOptions?: Record<string, unknown>
  /**
   * Use named prepared statements (parsed and planned once per connection). Default true; set
   * false behind a pooler that cannot carry them (PgBouncer < 1.21 in transaction mode).
   */
  preparedStatements?: boolean
  /**
   * Group commit (default true): writes of all sessions that arrive while a write is being made,
   * or in the same event-loop turn, share the next statement: one transaction, one round trip
   * and one WAL flush (group-commit.ts, postgres-write.ts). Each write still resolves only once
   * its group committed; a batch fenced out or refused for its data fails alone. `false`: one
   * statement per write, sent at once.
   */
  groupCommit?: boolean
  /**
   * Open for reading only (the CLI's ls, inspect, doctor, backup): no schema or table is
   * created, no lock taken; a database without the tables is NOT_FOUND; writes are refused.
   */
  readOnly?: boolean
}

export const POSTGRES_SCHEMA_VERSION = 1
const PAGE = 500
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`

function checkIdent(what: string, name: string): void {
  if (!IDENT.test(name) || name.length > 48) {
    throw invalidArgument(
      `The postgres ${what} must be letters, digits and '_' (at most 48, not starting with a digit); got a string of length ${name.length}.`
    )
  }
}

export function tableNames(options: PostgresDriverOptions): Tables {
  const prefix = options.tablePrefix ?? 'vault_'
  if (prefix !== '') checkIdent('table prefix', prefix)
  if (options.schema !== undefined) checkIdent('schema', options.schema)
  const q = (table: string) => (options.schema ? `${quoteIdent(options.schema)}.${quoteIdent(prefix + table)}` : quoteIdent(prefix + table))
  return {
    schema: options.schema,
    meta: q('meta'),
    creds: q('creds'),
    keys: q('keys'),
    lease: q('lease'),
    lockKey: `baileys-vault:${options.schema ?? ''}.${prefix}`
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- pg's ESM and CJS builds export different shapes
export const loadPg = (): Promise<any> =>
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
  loadPeer({ name: 'pg', feature: 'The postgres:// store', load: async () => ((m: any) => m.default ?? m)(await import('pg')) })

/** Creates the tables if missing (once, under an advisory lock) and checks the schema version. */
async function prepareSchema(pool: PgPoolLike, t: Tables, where: string, readOnly: boolean): Promise<void> {
  const readVersion = async (q: PgQueryable): Promise<string | undefined> => {
    const exists = await q.query({ text: 'SELECT to_regclass($1) IS NOT NULL AS ok', values: [t.meta] })
    if (!exists.rows[0].ok) return undefined
    try {
      const row = await q.query({ text: `SELECT value FROM ${t.meta} WHERE key = 'schema_version'` })
      return row.rows[0]?.value
    } catch (err) {
      // 42703 undefined_column / 42883 undefined_function: a table of that name, not ours.
      if ((err as { code?: string }).code !== '42703' && (err as { code?: string }).code !== '42883') throw err
      throw new VaultError(
        'UNSUPPORTED_FORMAT',
        `PostgreSQL ${where} has a table ${t.meta} that is not baileys-vault's (${(err as Error).message}). baileys-vault did not change it; use another schema or tablePrefix.`
      )
    }
  }
  // Fast path: tables exist already (no DDL, so a role without CREATE rights can use them).
  let version = await readVersion(pool)
  if (version === undefined && readOnly) {
    throw new VaultError(
      'NOT_FOUND',
      `PostgreSQL ${where} is not a baileys-vault store (no table ${t.meta} with a schema_version). Nothing was created; check the URL, schema and tablePrefix.`
    )
  }
  if (version === undefined) {
    version = await inTransaction(pool, 'BEGIN', async client => {
      await client.query({ text: 'SELECT pg_advisory_xact_lock(hashtext($1))', values: [t.lockKey] })
      let found = await readVersion(client)
      if (found === undefined) {
        if (t.schema) await client.query({ text: `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(t.schema)}` })
        await client.query({ text: `CREATE TABLE IF NOT EXISTS ${t.meta} (key text COLLATE "C" PRIMARY KEY, value text NOT NULL)` })
        await client.query({ text: `CREATE TABLE IF NOT EXISTS ${t.creds} (session text COLLATE "C" PRIMARY KEY, value bytea NOT NULL)` })
        await client.query({
          text: `CREATE TABLE IF NOT EXISTS ${t.keys} (
          session text COLLATE "C" NOT NULL, type text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, value bytea NOT NULL,
          PRIMARY KEY (session, type, id))`
        })
        await client.query({
          text: `INSERT INTO ${t.meta} (key, value) VALUES ('schema_version', $1) ON CONFLICT (key) DO NOTHING`,
          values: [String(POSTGRES_SCHEMA_VERSION)]
        })
        found = String(POSTGRES_SCHEMA_VERSION)
      }
      return found
    })
  }
  const n = Number(version)
  if (n !== POSTGRES_SCHEMA_VERSION) {
    throw new VaultError(
      'UNSUPPORTED_FORMAT',
      `PostgreSQL store ${where} has schema version ${version}; this baileys-vault reads version ${POSTGRES_SCHEMA_VERSION}. ${n > POSTGRES_SCHEMA_VERSION ? 'Upgrade baileys-vault.' : 'Run baileys-vault migrate to a new store.'}`
    )
  }
}

interface PageAll {
  session: string
  afterType: string
  afterId: string
  limit: number
}

interface PageType {
  session: string
  type: string
  afterId: string
  limit: number
}

interface Statements {
  getCreds: NamedStatement<{ session: string }>
  getMany: NamedStatement<{ session: string; type: string; ids: readonly string[] }>
  pageAll: NamedStatement<PageAll>
  pageAllValues: NamedStatement<PageAll>
  pageType: NamedStatement<PageType>
  pageTypeValues: NamedStatement<PageType>
  pageSessions: NamedStatement<{ after: string; limit: number }>
  /**
   * Batches of many sessions in one statement with only the parts `shape` needs
   * (postgres-write.ts); fenced batches land only if their session still holds the expected
   * lease epoch. One statement per shape, made on first use.
   */
  write(shape: WriteShape): { statement: Statement; params: WriteText['params'] }
  drop: NamedStatement<{ session: string }>
  rename: NamedStatement<{ from: string; to: string }>
}

export function statements(t: Tables, prepared: boolean): Statements {
  const statement = (text: string) => statementOf(text, prepared)
  const named = <P extends object>(text: string) => namedStatementOf<P>(text, prepared)
  return {
    getCreds: named(`SELECT value FROM ${t.creds} WHERE session = :session`),
    // One primary-key probe per id: a LATERAL subquery with LIMIT 1 cannot be flattened, so no
    // plan can turn it into a scan of the session. `id = ANY(:ids)` could: prepared statements get
    // a generic plan after five runs, and on a table not yet analyzed (a freshly linked account)
    // that plan scanned every key of the type and filtered (measured: 3 ms -> 89 ms for 500 ids
    // among 20k keys; a single-id get scanned every pre-key of the session).
    getMany: named(
      `SELECT k.id, k.value FROM unnest(:ids::text[]) AS u(id) CROSS JOIN LATERAL (SELECT id, value FROM ${t.keys} WHERE session = :session AND type = :type AND id = u.id LIMIT 1) k`
    ),
    pageAll: named(`SELECT type, id FROM ${t.keys} WHERE session = :session AND (type, id) > (:afterType, :afterId) ORDER BY type, id LIMIT :limit`),
    pageAllValues: named(
      `SELECT type, id, value FROM ${t.keys} WHERE session = :session AND (type, id) > (:afterType, :afterId) ORDER BY type, id LIMIT :limit`
    ),
    pageType: named(`SELECT type, id FROM ${t.keys} WHERE session = :session AND type = :type AND id > :afterId ORDER BY id LIMIT :limit`),
    pageTypeValues: named(`SELECT type, id, value FROM ${t.keys} WHERE session = :session AND type = :type AND id > :afterId ORDER BY id LIMIT :limit`),
    // Distinct sessions of the keys table by a loose index scan (one index probe per session,
    // not a scan of every key), merged with the creds table.
    pageSessions: named(`
      WITH RECURSIVE ks(session) AS (
        (SELECT session FROM ${t.keys} WHERE session > :after ORDER BY session LIMIT 1)
        UNION ALL
        SELECT (SELECT k.session FROM ${t.keys} k WHERE k.session > ks.session ORDER BY k.session LIMIT 1) FROM ks WHERE ks.session IS NOT NULL
      )
      SELECT session FROM (
        (SELECT session FROM ks WHERE session IS NOT NULL LIMIT :limit)
        UNION
        (SELECT session FROM ${t.creds} WHERE session > :after ORDER BY session LIMIT :limit)
      ) u ORDER BY session LIMIT :limit`),
    write: memoByShape(shape => {
      const { text, params } = writeText(t, shape)
      return { statement: statement(text), params }
    }),
    drop: named(`WITH c AS (DELETE FROM ${t.creds} WHERE session = :session) DELETE FROM ${t.keys} WHERE session = :session`),
    // One statement, one snapshot: "taken" and both updates see the same state, so the move
    // happens whole or (target taken) not at all. A row written to :to meanwhile makes the
    // primary key refuse the statement.
    rename: named(`
      WITH taken AS (
        SELECT EXISTS (SELECT 1 FROM ${t.creds} WHERE session = :to) OR EXISTS (SELECT 1 FROM ${t.keys} WHERE session = :to) AS yes
      ), c AS (
        UPDATE ${t.creds} SET session = :to WHERE session = :from AND NOT (SELECT yes FROM taken)
      ), k AS (
        UPDATE ${t.keys} SET session = :to WHERE session = :from AND NOT (SELECT yes FROM taken)
      )
      SELECT yes AS taken FROM taken`)
  }
}

function memoByShape<T>(make: (shape: WriteShape) => T): (shape: WriteShape) => T {
  const made = new Map<number, T>()
  return shape => {
    const key = (shape.fenced ? 1 : 0) | (shape.creds ? 2 : 0) | (shape.set ? 4 : 0) | (shape.del ? 8 : 0)
    let found = made.get(key)
    if (found === undefined) made.set(key, (found = make(shape)))
    return found
  }
}

function makeReader(q: PgQueryable, st: Statements): SnapshotReader {
  type Row = { type: string; id: string; value?: Buffer }
  return {
    async getCreds(session) {
      const { rows } = await q.query(st.getCreds({ session }))
      return rows[0]?.value ?? undefined
    },
    async get(session, type, ids) {
      const result = new Map<string, Uint8Array>()
      if (ids.length === 0) return result
      const { rows } = await q.query(st.getMany({ session, type, ids }))
      for (const row of rows as Array<{ id: string; value: Buffer }>) result.set(row.id, row.value)
      return result
    },
    list(session, type?: string, options: ListOptions = {}): AsyncIterable<ListEntry> {
      const values = !!options.values
      return pageThrough<Row, ListEntry>(
        async last => {
          const query =
            type === undefined
              ? (values ? st.pageAllValues : st.pageAll)({ session, afterType: last?.type ?? '', afterId: last?.id ?? '', limit: PAGE })
              : (values ? st.pageTypeValues : st.pageType)({ session, type, afterId: last?.id ?? '', limit: PAGE })
          return (await q.query(query)).rows as Row[]
        },
        PAGE,
        r => (values ? [r.type, r.id, r.value] : [r.type, r.id])
      )
    },
    sessions() {
      return pageThrough<string, string>(
        async last => ((await q.query(st.pageSessions({ after: last ?? '', limit: PAGE }))).rows as Array<{ session: string }>).map(r => r.session),
        PAGE,
        s => s
      )
    }
  }
}

export async function createPostgresDriver(options: PostgresDriverOptions): Promise<Driver> {
  const tables = tableNames(options)
  const owned = !options.pool
  let pool: PgPoolLike
  let where = 'database'
  if (options.pool) {
    pool = options.pool
  } else {
    if (!options.url) throw invalidArgument('The postgres driver needs a url (postgres://user:pass@host/db) or a pool.')
    const pg = await loadPg()
    // Every part checked (core/server-url); pg also accepts key=value strings, kept with the generic label.
    if (/^postgres(ql)?:/i.test(options.url)) {
      const parts = parsePostgresUrl(options.url)
      where = `${parts.host || 'socket'}:${parts.port}/${parts.database}`
    }
    const own = new pg.Pool({
      connectionString: options.url,
      max: 10,
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      application_name: 'baileys-vault',
      ...options.poolOptions
    })
    // An idle connection that the server closes (restart, failover, idle timeout) makes the
    // pool emit 'error'. The pool has already discarded that connection and will open a new one
    // for the next query; without a listener Node would crash the process instead.
    own.on('error', () => undefined)
    pool = own
  }

  try {
    await prepareSchema(pool, tables, where, !!options.readOnly)
    if (!options.readOnly) await tuneValueStorage(pool, tables, await valueStorageFor(pool))
  } catch (err) {
    if (owned) await pool.end().catch(() => undefined)
    if (err instanceof VaultError) throw err
    throw new VaultError(
      'BACKEND_UNAVAILABLE',
      `Cannot open the PostgreSQL store ${where}: ${(err as Error).message.replace(/\.+$/, '')}. Check that the server is running and the URL, user and password are right.`,
      { cause: err }
    )
  }

  const st = statements(tables, options.preparedStatements ?? true)
  const reader = makeReader(pool, st)
  const { applyGroup, writeOne } = postgresWriter({ pool, write: st.write })
  const groups = options.groupCommit === false ? undefined : new GroupCommit({ applyGroup })
  let closed = false
  const channel = pgLeaseChannel(tables.lockKey)
  const leaseEvents = postgresLeaseEvents(pool, channel)

  const driver: Driver = {
    kind: 'postgres',
    capabilities: { snapshot: true, rename: true },
    lease: postgresLease(pool, tables, text => namedStatementOf(text, options.preparedStatements ?? true), { ...leaseEvents, channel }),
    ...reader,
    async rename(from, to) {
      await groups?.drain()
      const { rows } = await pool.query(st.rename({ from, to }))
      if (rows[0].taken) throw renameTargetTaken(to)
    },
    write: groups ? (session, batch) => groups.write(session, batch) : writeOne,
    async drop(session) {
      await groups?.drain() // after the writes made before it, as when each write committed at once
      await pool.query(st.drop({ session }))
    },
    async snapshot(fn) {
      // One connection in a REPEATABLE READ transaction: every read sees the snapshot taken
      // by its first statement, while writes go on through the pool.
      return inTransaction(pool, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', async client => {
        await client.query({ text: 'SELECT 1' })
        return fn(makeReader(client, st))
      })
    },
    async close() {
      if (closed) return
      closed = true
      await groups?.drain()
      leaseEvents.close()
      if (owned) await pool.end()
    }
  }
  return options.readOnly ? refuseWrites(driver, `postgres://${where}`) : driver
}
