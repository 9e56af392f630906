import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import pg from 'pg'
import { isVaultError } from '../../src/core/errors.js'
import { createPostgresDriver, statements, tableNames, type PgPoolLike } from '../../src/drivers/postgres.js'
import { EXTERNAL, tuneValueStorage, valueStorageFor, type ValueStorage } from '../../src/drivers/pg-value-storage.js'
import { openStore } from '../../src/open-store.js'
import { driverConformance } from '../../src/testing/index.js'
import { assertUnreachableOpenFails, freshPostgres, requireEnv, startPostgres, stopPostgres } from '../helpers/servers.js'
import { serverDriverSuites } from '../helpers/server-driver-suites.js'
import { READ_BACK_IDS, roundTripBatch } from '../helpers/round-trip-batch.js'

const bytes = (text: string) => Buffer.from(text, 'utf8')

/** A client on the test database that reads the tables directly (the conformance raw reader). */
async function rawClient(url: string) {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  const one = async (text: string, values: unknown[]) => (await client.query(text, values)).rows[0]
  return {
    client,
    raw: {
      creds: async (s: string) => (await one('SELECT value FROM vault_creds WHERE session = $1', [s]))?.value,
      key: async (s: string, t: string, id: string) =>
        (await one('SELECT value FROM vault_keys WHERE session = $1 AND type = $2 AND id = $3', [s, t, id]))?.value,
      countKeys: async (s: string) => (await one('SELECT count(*)::int AS n FROM vault_keys WHERE session = $1', [s])).n as number
    }
  }
}

driverConformance('postgres', async () => {
  const db = await freshPostgres('conformance')
  const open = () => createPostgresDriver({ url: db.url })
  await (await open()).close() // creates the schema before the raw reader looks
  const { client, raw } = await rawClient(db.url)
  return {
    open,
    openReadOnly: () => createPostgresDriver({ url: db.url, readOnly: true }),
    snapshot: true,
    raw,
    cleanup: async () => {
      await client.end()
      await db.cleanup()
    }
  }
})

/** A user-owned pool that counts statements: proves "one round trip", not one per key. */
function countingPool(url: string) {
  const pool = new pg.Pool({ connectionString: url, max: 4 })
  pool.on('error', () => undefined)
  let queries = 0
  const counted: PgPoolLike = {
    query: (config: any) => {
      queries++
      return pool.query(config)
    },
    connect: () => pool.connect(),
    end: () => pool.end()
  }
  return { pool, counted, queries: () => queries }
}

describe('postgres driver', () => {
  it('the suites fail (never skip) without the test servers', () => {
    assert.ok(requireEnv('VAULT_TEST_POSTGRES_URL').startsWith('postgres'))
  })

  it('a write of many keys is one statement, a get of many ids is one query; a user-owned pool stays open', async () => {
    const db = await freshPostgres('roundtrips')
    const { pool, counted, queries } = countingPool(db.url)
    try {
      const d = await createPostgresDriver({ pool: counted })
      let before = queries()
      await d.write('s', roundTripBatch(300))
      assert.equal(queries() - before, 1, 'one statement for creds + 300 upserts + deletes')
      before = queries()
      const got = await d.get('s', 'pre-key', READ_BACK_IDS)
      assert.equal(queries() - before, 1, 'one query for 100 ids')
      assert.equal(got.size, 99, 'pre-key 5 was set then deleted in the same batch')
      await d.close()
      assert.equal((await pool.query('SELECT count(*)::int AS n FROM vault_keys')).rows[0].n, 299, 'the pool still works after close')
    } finally {
      await pool.end()
      await db.cleanup()
    }
  })

  it('a failing batch leaves nothing behind (one transaction)', async () => {
    const db = await freshPostgres('atomic')
    const d = await createPostgresDriver({ url: db.url })
    try {
      await d.write('s', { creds: bytes('old'), set: [['session', 'a', bytes('1')]], del: [] })
      // PostgreSQL text cannot hold NUL: the statement fails after the other rows were valid.
      await assert.rejects(
        d.write('s', {
          creds: bytes('new'),
          set: [
            ['session', 'a', bytes('2')],
            ['session', 'b', bytes('3')],
            ['session', 'bad\u0000id', bytes('4')]
          ],
          del: []
        })
      )
      assert.equal(Buffer.from((await d.getCreds('s'))!).toString(), 'old')
      const got = await d.get('s', 'session', ['a', 'b'])
      assert.deepEqual([...got.keys()], ['a'])
      assert.equal(Buffer.from(got.get('a')!).toString(), '1')
    } finally {
      await d.close()
      await db.cleanup()
    }
  })

  it('concurrent first opens create the schema once; schema and table prefix are honoured', async () => {
    const db = await freshPostgres('schema')
    const drivers = await Promise.all(Array.from({ length: 6 }, () => createPostgresDriver({ url: db.url, schema: 'bots', tablePrefix: 'wa_' })))
    const other = await createPostgresDriver({ url: db.url, preparedStatements: false })
    const c = new pg.Client({ connectionString: db.url })
    await c.connect()
    try {
      await (drivers[0] ?? assert.fail('six drivers')).write('s', { creds: bytes('c'), set: [['pre-key', '1', bytes('x')]], del: [] })
      assert.equal(Buffer.from((await (drivers[5] ?? assert.fail('six drivers')).getCreds('s'))!).toString(), 'c')
      assert.equal(await other.getCreds('s'), undefined, 'another prefix is another store')
      await other.write('s', {
        creds: bytes('o'),
        set: [
          ['pre-key', '1', bytes('y')],
          ['pre-key', '2', bytes('z')]
        ],
        del: [['pre-key', '2']]
      })
      assert.deepEqual(
        [...(await other.get('s', 'pre-key', ['1', '2']))].map(([id, v]) => `${id}=${Buffer.from(v)}`),
        ['1=y'],
        'unprepared statements work too'
      )
      const { rows } = await c.query(
        `SELECT to_regclass('bots.wa_keys') AS k, to_regclass('bots.wa_creds') AS c, (SELECT count(*)::int FROM bots.wa_meta) AS meta`
      )
      assert.deepEqual(rows[0], { k: 'bots.wa_keys', c: 'bots.wa_creds', meta: 1 })
      assert.equal((await c.query('SELECT count(*)::int AS n FROM bots.wa_keys')).rows[0].n, 1)
      await assert.rejects(createPostgresDriver({ url: db.url, tablePrefix: 'x"; drop' }), err => isVaultError(err, 'INVALID_ARGUMENT'))
    } finally {
      for (const d of [...drivers, other]) await d.close()
      await c.end()
      await db.cleanup()
    }
  })

  it('a newer schema version is refused with UNSUPPORTED_FORMAT and left untouched', async () => {
    const db = await freshPostgres('version')
    await (await createPostgresDriver({ url: db.url })).close()
    const c = new pg.Client({ connectionString: db.url })
    await c.connect()
    try {
      await c.query(`UPDATE vault_meta SET value = '99' WHERE key = 'schema_version'`)
      await assert.rejects(createPostgresDriver({ url: db.url }), err => isVaultError(err, 'UNSUPPORTED_FORMAT') && /Upgrade/.test((err as Error).message))
      await assert.rejects(openStore(db.url), err => isVaultError(err, 'UNSUPPORTED_FORMAT'))
      assert.equal((await c.query(`SELECT value FROM vault_meta WHERE key = 'schema_version'`)).rows[0].value, '99')
    } finally {
      await c.end()
      await db.cleanup()
    }
  })

  it('an unreachable server fails the open with BACKEND_UNAVAILABLE, without the password', async () => {
    await assertUnreachableOpenFails('postgres://vault:s3cret-pw@127.0.0.1:1/nowhere', 's3cret-pw')
  })

  it('survives the server closing idle connections (no crash) and reconnects', async () => {
    const db = await freshPostgres('idle')
    const store = await openStore(db.url)
    const admin = new pg.Client({ connectionString: requireEnv('VAULT_TEST_POSTGRES_URL') })
    await admin.connect()
    try {
      const { state } = await store.useAuthState('x')
      await state.keys.set({ 'sender-key-memory': { g: { a: true } } })
      // Terminating pooled idle connections makes pg emit 'error' on the pool; unhandled it would kill this process.
      const name = new URL(db.url).pathname.slice(1)
      const { rows } = await admin.query(
        'SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [name]
      )
      assert.ok(rows[0].n >= 1)
      await new Promise(resolve => setTimeout(resolve, 300))
      await state.keys.set({ 'sender-key-memory': { h: { b: true } } })
      assert.deepEqual(
        await store.readKeys('x', 'sender-key-memory', ['g', 'h']),
        new Map([
          ['g', { a: true }],
          ['h', { b: true }]
        ])
      )
    } finally {
      await admin.end()
      await store.close()
      await db.cleanup()
    }
  })
})

serverDriverSuites({ name: 'postgres', fresh: freshPostgres, server: { stop: () => stopPostgres('immediate'), start: startPostgres } })

describe('postgres: query plans stay index-bound under generic plans', () => {
  it('a multi-id get and a delete seek each id in the primary key, not a scan of the session', async () => {
    const db = await freshPostgres('plans')
    const driver = await createPostgresDriver({ url: db.url })
    const set: Array<[string, string, Uint8Array]> = []
    for (let i = 0; i < 3000; i++) set.push(['pre-key', String(i), bytes(`v${i}`)])
    await driver.write('s', { set, del: [] })
    await driver.close()
    const client = new pg.Client({ connectionString: db.url })
    await client.connect()
    try {
      // Prepared statements switch to a generic plan after five runs; force it and look. (No
      // ANALYZE: a freshly linked account's keys are queried long before autovacuum runs.)
      await client.query('SET plan_cache_mode = force_generic_plan')
      // The statement binds by name: its parameters' order is the statement's own, so the
      // PREPARE takes its types and literals from the bound values.
      const { text, values } = statements(tableNames({}), false).getMany({ session: 's', type: 'pre-key', ids: ['1', '2', '3'] })
      const types = values.map(v => (Array.isArray(v) ? 'text[]' : 'text')).join(', ')
      const literals = values.map(v => (Array.isArray(v) ? `'{${v.join(',')}}'` : `'${String(v)}'`)).join(', ')
      await client.query(`PREPARE get_many(${types}) AS ${text}`)
      const plan = JSON.stringify((await client.query(`EXPLAIN (FORMAT JSON) EXECUTE get_many(${literals})`)).rows[0]['QUERY PLAN'])
      assert.match(plan, /"Index Cond":"[^"]*id = /, `the id is an index condition: ${plan}`)
      assert.doesNotMatch(plan, /"Filter":"[^"]*id/, `no filter over ids: ${plan}`)
      // The write's delete: one probe per id, then a delete by tuple id; no scan of the session.
      const write = statements(tableNames({}), false).write({ fenced: false, creds: false, set: false, del: true })
      assert.deepEqual(write.params, ['delSessions', 'delTypes', 'delIds'])
      const writeSql = write.statement([]).text
      await client.query(`PREPARE write_keys(text[], text[], text[]) AS ${writeSql}`)
      const del = JSON.stringify((await client.query(`EXPLAIN (FORMAT JSON) EXECUTE write_keys('{s}', '{pre-key}', '{7}')`)).rows[0]['QUERY PLAN'])
      assert.match(del, /"Index Cond":"\(\(session = x.session\) AND \(type = x.type\) AND \(id = x.id\)\)"/, `each deleted id is probed: ${del}`)
      assert.doesNotMatch(
        del,
        /"Recheck Cond":"\(session = (\$1|x.session)\)"|"Index Cond":"\(session = (\$1|x.session)\)"/,
        `no scan of the whole session: ${del}`
      )
    } finally {
      await client.end()
      await db.cleanup()
    }
  })
})

describe('postgres: large values are not pglz-compressed on the shared CPU', () => {
  /** The compression or storage of both value columns, as the catalog has them. */
  async function columns(client: pg.Client, want: ValueStorage): Promise<string[]> {
    const { rows } = await client.query(
      `SELECT ${want.column}::text AS v FROM pg_attribute WHERE attrelid IN ('vault_creds'::regclass, 'vault_keys'::regclass) AND attname = 'value' ORDER BY attrelid::regclass::text`
    )
    return rows.map(r => r.v)
  }
  const back = 'ALTER TABLE vault_keys ALTER COLUMN value SET STORAGE EXTENDED, ALTER COLUMN value SET COMPRESSION pglz'
  const backCreds = 'ALTER TABLE vault_creds ALTER COLUMN value SET STORAGE EXTENDED, ALTER COLUMN value SET COMPRESSION pglz'
  /** 6 KB that compresses well (a Signal session is JSON with repeated keys). */
  const large = (tag: string) =>
    Buffer.from(`{"${tag}":${JSON.stringify(Array.from({ length: 200 }, (_, i) => ({ type: 'Buffer', data: `k${i}` })))}}`.padEnd(6000, ' '))

  it('an existing database (pglz, the server default) is switched on open; its values read back unchanged, new ones use the new way', async () => {
    const db = await freshPostgres('toast')
    const client = new pg.Client({ connectionString: db.url })
    await client.connect()
    try {
      const want = await valueStorageFor(client as unknown as PgPoolLike)
      let d = await createPostgresDriver({ url: db.url })
      assert.deepEqual(await columns(client, want), [want.done, want.done], 'a new store')
      // As a database made before this change: the server's defaults, a value compressed with pglz.
      await client.query(back)
      await client.query(backCreds)
      await d.write('s', { creds: large('c0'), set: [['session', 'old', large('old')]], del: [] })
      assert.equal((await client.query(`SELECT pg_column_compression(value) AS c FROM vault_keys WHERE id = 'old'`)).rows[0].c, 'pglz')
      await d.close()

      d = await createPostgresDriver({ url: db.url })
      assert.deepEqual(await columns(client, want), [want.done, want.done], 'switched on open')
      assert.deepEqual(Buffer.from((await d.get('s', 'session', ['old'])).get('old')!), large('old'))
      assert.deepEqual(Buffer.from((await d.getCreds('s'))!), large('c0'))
      await d.write('s', { set: [['session', 'new', large('new')]], del: [] })
      const { rows } = await client.query(`SELECT pg_column_compression(value) AS c FROM vault_keys WHERE id = 'new'`)
      assert.equal(rows[0].c, want === EXTERNAL ? null : 'lz4')
      assert.deepEqual(Buffer.from((await d.get('s', 'session', ['new'])).get('new')!), large('new'))
      await d.close()
    } finally {
      await client.end()
      await db.cleanup()
    }
  })

  it('a role that does not own the tables, or a table locked by a long transaction, opens unchanged', async () => {
    const db = await freshPostgres('toastrole')
    const client = new pg.Client({ connectionString: db.url })
    await client.connect()
    const role = `vault_user_${process.pid}`
    const reader = new pg.Client({ connectionString: db.url })
    const pool = new pg.Pool({ connectionString: db.url, max: 2 })
    try {
      const want = await valueStorageFor(client as unknown as PgPoolLike)
      await (await createPostgresDriver({ url: db.url })).close()
      await client.query(back)
      await client.query(backCreds)
      const before = await columns(client, want)

      // A long transaction reading the table: the ALTER gives up after its lock timeout.
      await reader.connect()
      await reader.query('BEGIN')
      await reader.query('SELECT count(*) FROM vault_keys')
      await tuneValueStorage(pool, tableNames({}), want, 50)
      assert.deepEqual(await columns(client, want), before, 'left as it was while locked')
      await reader.query('COMMIT')

      // A role with the rights to use the tables, but not to alter them.
      await client.query(`CREATE ROLE ${role} LOGIN`)
      await client.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role}`)
      const url = new URL(db.url)
      url.username = role
      url.password = ''
      const d = await createPostgresDriver({ url: url.toString() })
      await d.write('s', { set: [['session', 'a', large('a')]], del: [] })
      assert.deepEqual(Buffer.from((await d.get('s', 'session', ['a'])).get('a')!), large('a'))
      await d.close()
      assert.deepEqual(await columns(client, want), before, 'not the owner: unchanged')

      await tuneValueStorage(pool, tableNames({}), want)
      assert.deepEqual(await columns(client, want), [want.done, want.done], 'the owner, unlocked: switched')
    } finally {
      await reader.end()
      await pool.end()
      await client.end()
      await db.cleanup()
      const admin = new pg.Client({ connectionString: requireEnv('VAULT_TEST_POSTGRES_URL') })
      await admin.connect()
      await admin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined)
      await admin.end()
    }
  })
})
