import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import pg from 'pg'
import type { Driver, WriteBatch } from '../../src/core/driver.js'
import { isVaultError } from '../../src/core/errors.js'
import { createPostgresDriver, type PgPoolLike } from '../../src/drivers/postgres.js'
import { createRedisDriver, type RedisClientLike } from '../../src/drivers/redis.js'
import { openStore } from '../../src/open-store.js'
import type { AuthStore } from '../../src/auth/auth-store.js'
import { freshPostgres, freshRedis, redisClient } from '../helpers/servers.js'
import { assertEachSessionInOrder, fireManyWriters } from '../helpers/many-writers.js'

/**
 * Group commit on the server drivers (postgres-write.ts, redis-write.ts), on real servers:
 * a batch fenced out fails alone, a group that fails as a whole fails exactly its writes, and
 * no session's writes are ever reordered.
 */

const SESSIONS = 6
const bytes = (text: string) => Buffer.from(text, 'utf8')
const batch = (value: string, epoch?: number): WriteBatch => ({ set: [['session', 'peer.0', bytes(value)]], del: [], epoch })
const sessionIds = Array.from({ length: SESSIONS }, (_, i) => `s${i}`)

/**
 * s2's lease goes from owner A (epoch 1) to owner B (epoch 2); every session writes in the same
 * turn, s2 with A's stale epoch and s4 with B's current one. Only s2's batch fails (LEASE_LOST).
 */
async function fencedOutFailsAlone(driver: Driver, writesSent: () => number): Promise<void> {
  const lease = driver.lease!
  const a = await lease.acquire('s2', { owner: 'host-a:1:aa', ttlMs: 60_000 })
  await lease.release('s2', { owner: a.owner, epoch: a.epoch })
  await lease.acquire('s2', { owner: 'host-b:2:bb', ttlMs: 60_000 })
  const b4 = await lease.acquire('s4', { owner: 'host-b:2:bb', ttlMs: 60_000 })
  const before = writesSent()
  const results = await Promise.allSettled(sessionIds.map(s => driver.write(s, batch(`after ${s}`, s === 's2' ? a.epoch : s === 's4' ? b4.epoch : undefined))))
  assert.equal(writesSent() - before, 1, 'the six batches went in one group (one statement / script)')
  assert.deepEqual(
    results.map(r => r.status),
    sessionIds.map(s => (s === 's2' ? 'rejected' : 'fulfilled'))
  )
  const reason = (results[2] as PromiseRejectedResult).reason
  assert.ok(isVaultError(reason) && reason.code === 'LEASE_LOST', String(reason))
  for (const s of sessionIds) {
    const got = (await driver.get(s, 'session', ['peer.0'])).get('peer.0')
    assert.equal(got && Buffer.from(got).toString(), s === 's2' ? undefined : `after ${s}`, `stored value of ${s}`)
  }
}

/** Auth states of SESSIONS sessions on one store, each holding `peer.0 = before`. */
async function authStates(store: AuthStore) {
  const auths = []
  for (const s of sessionIds) {
    const auth = await store.useAuthState(s)
    await auth.state.keys.set({ session: { 'peer.0': { v: 'before' } as any } })
    auths.push(auth)
  }
  return auths
}

/** Every write of the failed group rejected with BACKEND_UNAVAILABLE; caches and the database still hold `before`. */
async function assertGroupFailed(
  results: PromiseSettledResult<void>[],
  auths: Awaited<ReturnType<typeof authStates>>,
  stored: (s: string) => Promise<unknown>
): Promise<void> {
  for (const r of results) {
    assert.equal(r.status, 'rejected')
    const reason = (r as PromiseRejectedResult).reason
    assert.ok(isVaultError(reason) && reason.code === 'BACKEND_UNAVAILABLE', String(reason))
  }
  for (const [i, a] of auths.entries()) {
    assert.deepEqual(await a.state.keys.get('session', ['peer.0']), { 'peer.0': { v: 'before' } }, `cache of s${i}`)
    assert.deepEqual(await stored(`s${i}`), { v: 'before' }, `database of s${i}`)
  }
}

/** Many sessions' writes fired without waiting; `applied` lists the write ids in the order the backend applied them. */
async function manyWriters(store: AuthStore, applied: () => Promise<Array<{ session: string; n: number }>>): Promise<void> {
  await fireManyWriters(store)
  const log = await applied()
  await assertEachSessionInOrder(
    session => log.filter(r => r.session === session).map(r => r.n),
    async session => (await store.readKeys(session, 'session', ['counter.0'])).get('counter.0')
  )
}

/** A user-owned pool that counts the write statements it runs. */
function countingPool(url: string, config: Record<string, unknown> = {}) {
  const pool = new pg.Pool({ connectionString: url, max: 4, ...config })
  pool.on('error', () => undefined)
  let writes = 0
  const counted: PgPoolLike = {
    query: (q: any) => {
      if (/INSERT INTO/.test(q.text)) writes++
      return pool.query(q)
    },
    connect: () => pool.connect(),
    end: () => pool.end()
  }
  return { pool, counted, writes: () => writes }
}

describe('postgres group commit', () => {
  it('a batch fenced out by another owner fails alone (LEASE_LOST); the rest of its group commits, in one statement', async () => {
    const db = await freshPostgres('group_fence')
    const { pool, counted, writes } = countingPool(db.url)
    const driver = await createPostgresDriver({ pool: counted })
    try {
      await fencedOutFailsAlone(driver, writes)
    } finally {
      await driver.close()
      await pool.end()
      await db.cleanup()
    }
  })

  it('a batch refused for its data (NUL in an id) fails alone; the others in its group commit', async () => {
    const db = await freshPostgres('group_bad')
    const driver = await createPostgresDriver({ url: db.url })
    try {
      const results = await Promise.allSettled(
        sessionIds.map(s => driver.write(s, s === 's3' ? { set: [['session', 'bad\u0000id', bytes('x')]], del: [] } : batch(`after ${s}`)))
      )
      assert.deepEqual(
        results.map(r => r.status),
        sessionIds.map(s => (s === 's3' ? 'rejected' : 'fulfilled'))
      )
      for (const s of sessionIds) assert.equal((await driver.get(s, 'session', ['peer.0'])).size, s === 's3' ? 0 : 1)
    } finally {
      await driver.close()
      await db.cleanup()
    }
  })

  it('a group whose statement times out fails every write in it with BACKEND_UNAVAILABLE; caches and database agree; the next writes succeed', async () => {
    const db = await freshPostgres('group_timeout')
    // A real statement_timeout: the group's statement waits on a row another connection locked.
    const { pool, counted, writes } = countingPool(db.url, { statement_timeout: 300 })
    const store = await openStore(db.url, { postgres: { pool: counted } })
    const locker = new pg.Client({ connectionString: db.url })
    await locker.connect()
    try {
      const auths = await authStates(store)
      await locker.query('BEGIN')
      await locker.query(`SELECT 1 FROM vault_keys WHERE session = 's3' FOR UPDATE`)
      const before = writes()
      const results = await Promise.allSettled(auths.map(a => a.state.keys.set({ session: { 'peer.0': { v: 'after' } as any } })))
      assert.equal(writes() - before, 1, 'one group, one statement')
      const raw = async (s: string) => (await store.readKeys(s, 'session', ['peer.0'])).get('peer.0')
      await assertGroupFailed(results, auths, raw)
      assert.match(String((results[0] as PromiseRejectedResult).reason.message), /timeout/)

      await locker.query('ROLLBACK') // the fault clears
      await Promise.all(auths.map(a => a.state.keys.set({ session: { 'peer.0': { v: 'after' } as any } })))
      for (const [i, a] of auths.entries()) {
        assert.deepEqual(await a.state.keys.get('session', ['peer.0']), { 'peer.0': { v: 'after' } })
        assert.deepEqual(await raw(`s${i}`), { v: 'after' })
      }
    } finally {
      await locker.end()
      await store.close()
      await pool.end()
      await db.cleanup()
    }
  })

  it('under many concurrent writers, no session ever sees its writes applied out of order', async () => {
    const db = await freshPostgres('group_order')
    const store = await openStore(db.url)
    const client = new pg.Client({ connectionString: db.url })
    await client.connect()
    try {
      // The database itself logs the order in which it applied each key write.
      await client.query(`CREATE TABLE applied (seq bigserial PRIMARY KEY, session text, id text);
        CREATE FUNCTION log_applied() RETURNS trigger AS $$ BEGIN INSERT INTO applied (session, id) VALUES (NEW.session, NEW.id); RETURN NEW; END $$ LANGUAGE plpgsql;
        CREATE TRIGGER log_applied AFTER INSERT OR UPDATE ON vault_keys FOR EACH ROW EXECUTE FUNCTION log_applied();`)
      await manyWriters(store, async () => {
        const { rows } = await client.query(`SELECT session, id FROM applied WHERE id LIKE 'write%' ORDER BY seq`)
        return rows.map((r: { session: string; id: string }) => ({ session: r.session, n: Number(r.id.slice(5, -2)) }))
      })
    } finally {
      await client.end()
      await store.close()
      await db.cleanup()
    }
  })
})

describe('redis group commit', () => {
  /** A user-owned client that counts the write scripts it sends. */
  function counting(client: RedisClientLike) {
    let scripts = 0
    const counted: RedisClientLike = {
      callBuffer: (command, ...args) => {
        if (command === 'EVALSHA') scripts++ // (an EVAL follows only when the server lacks the script)
        return client.callBuffer(command, ...args)
      }
    }
    return { counted, scripts: () => scripts }
  }

  it('a batch fenced out by another owner fails alone (LEASE_LOST); the rest of its group lands, in one script', async () => {
    const target = await freshRedis('group-fence')
    const client = await redisClient()
    const { counted, scripts } = counting(client)
    const driver = await createRedisDriver({ client: counted, prefix: target.prefix })
    try {
      await fencedOutFailsAlone(driver, scripts)
    } finally {
      await driver.close()
      client.disconnect()
      await target.cleanup()
    }
  })

  it('a batch whose keys hold another Redis type fails alone, writing nothing; the others in its group land', async () => {
    const target = await freshRedis('group-type')
    const client = await redisClient()
    const driver = await createRedisDriver({ client, prefix: target.prefix })
    try {
      await client.set(`${target.prefix}:s:s3:keys`, 'not a hash (written by something else)')
      const results = await Promise.allSettled(sessionIds.map(s => driver.write(s, { ...batch(`after ${s}`), creds: bytes('c') })))
      assert.deepEqual(
        results.map(r => r.status),
        sessionIds.map(s => (s === 's3' ? 'rejected' : 'fulfilled'))
      )
      assert.equal((results[3] as PromiseRejectedResult).reason.code, 'CORRUPT_DATA')
      assert.equal(await client.exists(`${target.prefix}:s:s3:creds`), 0, 'nothing of the refused batch landed')
      for (const s of sessionIds.filter(s => s !== 's3')) assert.equal((await driver.get(s, 'session', ['peer.0'])).size, 1)
    } finally {
      await driver.close()
      client.disconnect()
      await target.cleanup()
    }
  })

  it('a group whose script Redis refuses (out of memory) fails every write in it with BACKEND_UNAVAILABLE; caches and Redis agree; the next writes succeed', async () => {
    const target = await freshRedis('group-oom')
    const client = await redisClient()
    const { counted, scripts } = counting(client)
    const store = await openStore(target.url, { redis: { client: counted, prefix: target.prefix } })
    const admin = await redisClient()
    const maxmemory = ((await admin.config('GET', 'maxmemory'))[1] as string | undefined) ?? assert.fail('CONFIG GET answers the name and the value')
    try {
      const auths = await authStates(store)
      await admin.config('SET', 'maxmemory', '1') // a real OOM: Redis refuses the script's first write
      const before = scripts()
      const results = await Promise.allSettled(auths.map(a => a.state.keys.set({ session: { 'peer.0': { v: 'after' } as any } })))
      assert.equal(scripts() - before, 1, 'one group, one script')
      await admin.config('SET', 'maxmemory', maxmemory) // reads are fine either way; restore before the checks
      const raw = async (s: string) => (await store.readKeys(s, 'session', ['peer.0'])).get('peer.0')
      await assertGroupFailed(results, auths, raw)
      assert.match(String((results[0] as PromiseRejectedResult).reason.message), /OOM/)

      await Promise.all(auths.map(a => a.state.keys.set({ session: { 'peer.0': { v: 'after' } as any } })))
      for (const [i, a] of auths.entries()) {
        assert.deepEqual(await a.state.keys.get('session', ['peer.0']), { 'peer.0': { v: 'after' } })
        assert.deepEqual(await raw(`s${i}`), { v: 'after' })
      }
    } finally {
      await admin.config('SET', 'maxmemory', maxmemory)
      admin.disconnect()
      await store.close()
      client.disconnect()
      await target.cleanup()
    }
  })

  it("a session's record and its keys (same epoch, no key in common) are one script batch: one lease check, one HSET; fenced out, both fail. Control: a key in common keeps them two, the later value wins", async () => {
    const target = await freshRedis('group-share')
    const client = await redisClient()
    const driver = await createRedisDriver({ client, prefix: target.prefix })
    // MONITOR lists the commands scripts run too: HMGET is the lease check, HSET a batch's sets.
    const watcher = await redisClient()
    const monitor = await watcher.monitor()
    const calls: string[] = []
    // Only the write script's calls: HMGET of the lease hash (its check), HSET of the keys hash (a batch's sets).
    const counted: Record<string, string> = { [`${target.prefix}:s:s1:lease`]: 'HMGET', [`${target.prefix}:s:s1:keys`]: 'HSET' }
    monitor.on('monitor', (_time: string, args: string[]) => {
      const command = args[0]?.toUpperCase()
      if (command !== undefined && counted[args[1] ?? ''] === command) calls.push(command)
    })
    /** Lets MONITOR show every command run so far (a command after them, then a pause). */
    const shown = async () => {
      await client.ping()
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    /** The lease checks and HSETs the script ran for `writes`, sent in one turn (one group). */
    const scriptCalls = async (writes: Array<() => Promise<void>>) => {
      await shown()
      calls.length = 0
      const results = await Promise.allSettled(writes.map(w => w()))
      await shown()
      return { results: results.map(r => r.status), hmget: calls.filter(c => c === 'HMGET').length, hset: calls.filter(c => c === 'HSET').length }
    }
    const value = async (type: string, id: string) => {
      const got = (await driver.get('s1', type, [id])).get(id)
      return got && Buffer.from(got).toString()
    }
    try {
      const lease = driver.lease!
      const a = await lease.acquire('s1', { owner: 'host-a:1:aa', ttlMs: 60_000 })
      const record: WriteBatch = { set: [['m', 'sent-1', bytes('record')]], del: [], epoch: a.epoch, joinNext: true }
      const keys: WriteBatch = { set: [['session', 'peer.0', bytes('keys')]], del: [], epoch: a.epoch }
      const shared = await scriptCalls([() => driver.write('s1', record), () => driver.write('s1', keys)])
      assert.deepEqual(shared, { results: ['fulfilled', 'fulfilled'], hmget: 1, hset: 1 })
      assert.equal(await value('m', 'sent-1'), 'record')
      assert.equal(await value('session', 'peer.0'), 'keys')

      // Control: the same key in both batches: two script batches, in order.
      const first: WriteBatch = { set: [['session', 'peer.0', bytes('first')]], del: [], epoch: a.epoch }
      const second: WriteBatch = { set: [['session', 'peer.0', bytes('second')]], del: [], epoch: a.epoch }
      const apart = await scriptCalls([() => driver.write('s1', first), () => driver.write('s1', second)])
      assert.deepEqual(apart, { results: ['fulfilled', 'fulfilled'], hmget: 2, hset: 2 })
      assert.equal(await value('session', 'peer.0'), 'second')

      // Another owner took the lease: the shared batch is fenced out whole; nothing of it lands.
      await lease.release('s1', { owner: a.owner, epoch: a.epoch })
      await lease.acquire('s1', { owner: 'host-b:2:bb', ttlMs: 60_000 })
      const stale = await scriptCalls([
        () => driver.write('s1', { ...record, set: [['m', 'sent-2', bytes('zombie')]] }),
        () => driver.write('s1', { ...keys, set: [['session', 'peer.1', bytes('zombie')]] })
      ])
      assert.deepEqual(stale, { results: ['rejected', 'rejected'], hmget: 1, hset: 0 })
      assert.equal(await value('m', 'sent-2'), undefined)
      assert.equal(await value('session', 'peer.1'), undefined)
    } finally {
      monitor.disconnect()
      watcher.disconnect()
      await driver.close()
      client.disconnect()
      await target.cleanup()
    }
  })

  it('under many concurrent writers, no session ever sees its writes applied out of order', async () => {
    const target = await freshRedis('group-order')
    const store = await openStore(target.url)
    // MONITOR lists the commands Redis executed, those run by scripts included, in execution order.
    const client = await redisClient()
    const monitor = await client.monitor()
    const seen: Array<{ session: string; n: number }> = []
    const keysOf = new RegExp(`^${target.prefix}:s:(w\\d+):keys$`)
    monitor.on('monitor', (_time: string, args: string[]) => {
      const session = args[0]?.toUpperCase() === 'HSET' ? keysOf.exec(args[1] ?? '')?.[1] : undefined
      if (!session) return
      for (let i = 2; i < args.length; i += 2) {
        const m = /^session\\x00write(\d+)\.0$/.exec(args[i] ?? '') // MONITOR shows the field's NUL as the text \x00
        if (m) seen.push({ session, n: Number(m[1]) })
      }
    })
    try {
      await manyWriters(store, async () => {
        await store.readKeys('w0', 'session', ['counter.0']) // a command after the last write: MONITOR has shown them all
        await new Promise(resolve => setTimeout(resolve, 50))
        return seen
      })
    } finally {
      monitor.disconnect()
      client.disconnect()
      await store.close()
      await target.cleanup()
    }
  })
})
