import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isVaultError } from '../../src/core/errors.js'
import { createRedisDriver, type RedisClientLike } from '../../src/drivers/redis.js'
import { openStore } from '../../src/open-store.js'
import { driverConformance } from '../../src/testing/index.js'
import { assertUnreachableOpenFails, freshRedis, redisClient, requireEnv, startRedis, stopRedis } from '../helpers/servers.js'
import { serverDriverSuites } from '../helpers/server-driver-suites.js'
import { READ_BACK_IDS, roundTripBatch } from '../helpers/round-trip-batch.js'

const bytes = (text: string) => Buffer.from(text, 'utf8')

driverConformance('redis', async () => {
  const target = await freshRedis('conformance')
  const client = await redisClient()
  const p = target.prefix
  return {
    open: () => createRedisDriver({ url: target.url }),
    openReadOnly: () => createRedisDriver({ url: target.url, readOnly: true }),
    snapshot: false,
    raw: {
      creds: async s => (await client.getBuffer(`${p}:s:${s}:creds`)) ?? undefined,
      key: async (s, t, id) => (await client.hgetBuffer(`${p}:s:${s}:keys`, `${t}\u0000${id}`)) ?? undefined,
      countKeys: async s => {
        const [stored, indexed] = await Promise.all([client.hlen(`${p}:s:${s}:keys`), client.zcard(`${p}:s:${s}:index`)])
        assert.equal(indexed, stored, 'the listing index matches the stored keys')
        return stored
      }
    },
    cleanup: async () => {
      client.disconnect()
      await target.cleanup()
    }
  }
})

describe('redis driver', () => {
  it('the suites fail (never skip) without the test servers', () => {
    assert.ok(requireEnv('VAULT_TEST_REDIS_URL').startsWith('redis'))
  })

  it('a write is one command (one script), a get of many ids is one HMGET; a user-owned client stays open', async () => {
    const target = await freshRedis('roundtrips')
    const client = await redisClient()
    let calls: string[] = []
    const counted: RedisClientLike = {
      callBuffer: (command, ...args) => {
        calls.push(command)
        return client.callBuffer(command, ...args)
      }
    }
    try {
      const d = await createRedisDriver({ client: counted, prefix: target.prefix })
      await client.script('FLUSH')
      calls = []
      await d.write('s', roundTripBatch(3000))
      assert.deepEqual(calls, ['EVALSHA', 'EVAL'], 'a server without the script gets it once')
      calls = []
      await d.write('s', { set: [['session', 'a', bytes('1')]], del: [] })
      assert.deepEqual(calls, ['EVALSHA'])
      calls = []
      const got = await d.get('s', 'pre-key', READ_BACK_IDS)
      assert.deepEqual(calls, ['HMGET'])
      assert.equal(got.size, 99, 'pre-key 5 was set then deleted in the same batch')
      await d.close()
      assert.equal(await client.hlen(`${target.prefix}:s:s:keys`), 3000, 'the client still works after close')
      // No TTL on auth data.
      for (const suffix of ['creds', 'keys', 'index']) assert.equal(await client.ttl(`${target.prefix}:s:s:${suffix}`), -1)
    } finally {
      client.disconnect()
      await target.cleanup()
    }
  })

  it('keeps working after the server forgets its scripts (restart, SCRIPT FLUSH)', async () => {
    const target = await freshRedis('noscript')
    const client = await redisClient()
    const d = await createRedisDriver({ url: target.url })
    try {
      await d.write('s', { set: [['session', 'a', bytes('1')]], del: [] })
      await client.script('FLUSH')
      await d.write('s', { set: [['session', 'b', bytes('2')]], del: [] })
      await d.drop('s')
      await client.script('FLUSH')
      await d.write('t', { creds: bytes('c'), set: [], del: [] })
      assert.equal((await d.get('s', 'session', ['a', 'b'])).size, 0)
      assert.equal(Buffer.from((await d.getCreds('t'))!).toString(), 'c')
    } finally {
      await d.close()
      client.disconnect()
      await target.cleanup()
    }
  })

  it('prefixes are separate stores; an emptied session leaves the session index', async () => {
    const a = await freshRedis('prefix-a')
    const b = await freshRedis('prefix-b')
    const da = await createRedisDriver({ url: a.url })
    const db = await createRedisDriver({ url: b.url.replace(/\?.*$/, ''), prefix: b.prefix })
    try {
      await da.write('s', { creds: bytes('a'), set: [['pre-key', '1', bytes('x')]], del: [] })
      await db.write('t', { set: [['pre-key', '1', bytes('y')]], del: [] })
      const sessions = async (d: typeof da) => {
        const out: string[] = []
        for await (const s of d.sessions()) out.push(s)
        return out
      }
      assert.deepEqual(await sessions(da), ['s'])
      assert.deepEqual(await sessions(db), ['t'])
      await db.write('t', { set: [], del: [['pre-key', '1']] })
      assert.deepEqual(await sessions(db), [], 'a session with no creds and no keys is not listed')
      await da.write('s', { set: [], del: [['pre-key', '1']] })
      assert.deepEqual(await sessions(da), ['s'], 'a session with creds and no keys stays listed')
      await db.write('t', { set: [['pre-key', '2', bytes('z')]], del: [['pre-key', '2']] })
      assert.deepEqual(await sessions(db), [], 'a key set and deleted in one batch lists nothing')
      await db.write('t', { creds: bytes('c'), set: [], del: [] })
      assert.deepEqual(await sessions(db), ['t'], 'creds alone list the session')
    } finally {
      await da.close()
      await db.close()
      await a.cleanup()
      await b.cleanup()
    }
  })

  it('a newer schema version is refused with UNSUPPORTED_FORMAT and left untouched', async () => {
    const target = await freshRedis('version')
    const client = await redisClient()
    try {
      await (await createRedisDriver({ url: target.url })).close()
      await client.hset(`${target.prefix}:meta`, 'schema_version', '99')
      await assert.rejects(openStore(target.url), err => isVaultError(err, 'UNSUPPORTED_FORMAT') && /Upgrade/.test((err as Error).message))
      assert.equal(await client.hget(`${target.prefix}:meta`, 'schema_version'), '99')
    } finally {
      client.disconnect()
      await target.cleanup()
    }
  })

  it('an unreachable server fails the open with BACKEND_UNAVAILABLE, without the password', async () => {
    await assertUnreachableOpenFails('redis://:s3cret-pw@127.0.0.1:1', 's3cret-pw')
  })
})

serverDriverSuites({ name: 'redis', fresh: freshRedis, server: { stop: () => stopRedis('shutdown'), start: startRedis } })
