import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { describe, it } from 'node:test'
import { promisify } from 'node:util'
import { isVaultError } from '../../src/core/errors.js'
import { openStore } from '../../src/open-store.js'
import type { StoreTarget } from './real-client-suite.js'
import { connectRedis, deleteRedisPrefix as deleteKeys } from './redis-keys.js'

/**
 * Access to the real PostgreSQL and Redis servers started by scripts/test-servers.sh (through
 * scripts/with-test-servers.sh, which `npm test` uses). Without them the server suites FAIL:
 * they are never skipped.
 */
const HOW =
  'The PostgreSQL/Redis suites need the test servers: run them through scripts/with-test-servers.sh ' +
  '(npm test does), e.g. `bash scripts/with-test-servers.sh node --test build/test/drivers/postgres.servers.test.js`.'

export function requireEnv(name: string): string {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set. ${HOW}`)
  return value
}

const execFileP = promisify(execFile)
let counter = 0
const unique = (label: string) => `${label}_${process.pid}_${++counter}_${Date.now().toString(36)}`.toLowerCase().replace(/[^a-z0-9_]/g, '_')

/** A new, empty database on the test server: its own URL and a cleanup that drops it. */
export async function freshPostgres(label: string): Promise<StoreTarget & { cleanup(): Promise<void> }> {
  const base = requireEnv('VAULT_TEST_POSTGRES_URL')
  const name = `vault_${unique(label)}`.slice(0, 63)
  const { default: pg } = await import('pg')
  const admin = new pg.Client({ connectionString: base })
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE "${name}"`)
  } finally {
    await admin.end()
  }
  const url = new URL(base)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    cleanup: async () => {
      const c = new pg.Client({ connectionString: base })
      await c.connect()
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
      } finally {
        await c.end()
      }
    }
  }
}

/** A new key prefix on the test Redis (`?prefix=` in the URL) and a cleanup that deletes its keys. */
export async function freshRedis(label: string): Promise<StoreTarget & { prefix: string; cleanup(): Promise<void> }> {
  const base = requireEnv('VAULT_TEST_REDIS_URL')
  const prefix = `vt-${unique(label)}`
  const url = new URL(base)
  url.searchParams.set('prefix', prefix)
  return {
    url: url.toString(),
    prefix,
    cleanup: () => deleteRedisPrefix(prefix)
  }
}

/** Deletes every key under `prefix:` on the test Redis (SCAN + UNLINK, bounded batches). */
export const deleteRedisPrefix = (prefix: string): Promise<void> => deleteKeys({ url: requireEnv('VAULT_TEST_REDIS_URL'), prefix })

/** A plain ioredis client on the test server (raw reads, cleanup). */
export const redisClient = () => connectRedis(requireEnv('VAULT_TEST_REDIS_URL'))

async function ctl(...args: string[]): Promise<void> {
  const script = requireEnv('VAULT_TEST_SERVERS_CTL')
  const state = requireEnv('VAULT_TEST_SERVERS_STATE')
  try {
    await execFileP('bash', [script, ...args, state], { timeout: 120_000 })
  } catch (err) {
    const e = err as { stderr?: string; message: string }
    throw new Error(`test-servers.sh ${args.join(' ')} failed: ${e.stderr || e.message}`)
  }
}

/** `immediate` is a crash of the server (no checkpoint; WAL recovery on start). */
/** Opening `url` (no server listens there; `password` is in it) fails with BACKEND_UNAVAILABLE within 10 s, and the error does not say the password. */
export async function assertUnreachableOpenFails(url: string, password: string): Promise<void> {
  const started = Date.now()
  await assert.rejects(openStore(url), err => {
    assert.ok(isVaultError(err, 'BACKEND_UNAVAILABLE'), String(err))
    assert.ok(!(err as Error).message.includes(password))
    return true
  })
  assert.ok(Date.now() - started < 10_000)
}

export const stopPostgres = (mode: 'fast' | 'immediate' = 'fast') => ctl('stop-postgres', mode)
export const startPostgres = () => ctl('start-postgres')
/** `shutdown` flushes and fsyncs the AOF; `kill` is SIGKILL. */
export const stopRedis = (mode: 'shutdown' | 'kill' = 'shutdown') => ctl('stop-redis', mode)
export const startRedis = () => ctl('start-redis')

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

async function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(10)
  }
}

const keyPair = (i: number) => ({ public: Buffer.from(`pub-${i}`.padEnd(33, '.')), private: Buffer.from(`priv-${i}`.padEnd(32, '.')) })
const sameKeyPair = (got: any, i: number) => !!got && Buffer.from(got.public).equals(keyPair(i).public) && Buffer.from(got.private).equals(keyPair(i).private)

/**
 * Outage of a server mid-traffic: writes during the outage reject with BACKEND_UNAVAILABLE
 * (promptly: not queued), nothing acknowledged before or during the outage is lost, nothing
 * rejected lands later, and the same store object resumes once the server is back.
 */
export function outageSuite(name: string, makeTarget: () => Promise<StoreTarget>, server: { stop(): Promise<void>; start(): Promise<void> }): void {
  describe(`outage: ${name}`, () => {
    it('a write during the outage rejects with BACKEND_UNAVAILABLE; the same store resumes; nothing committed is lost', async t => {
      const target = await makeTarget()
      const store = await openStore(target.url, target.options)
      let down = false
      try {
        const { state, saveCreds } = await store.useAuthState('x')
        await saveCreds()
        const acked = new Set<number>()
        const errors: unknown[] = []
        let running = true
        // Traffic: one keys.set after another, as Baileys does; record what was acknowledged.
        const traffic = (async () => {
          for (let i = 0; running; i++) {
            try {
              await state.keys.set({ 'pre-key': { [String(i)]: keyPair(i) } })
              acked.add(i)
            } catch (err) {
              errors.push(err)
              await sleep(20)
            }
          }
        })()
        await waitFor('traffic before the outage', () => acked.size >= 50, 30_000)
        const before = acked.size
        await server.stop()
        down = true
        await waitFor('writes to fail during the outage', () => errors.length >= 5, 30_000)
        running = false
        await traffic
        for (const err of errors) assert.ok(isVaultError(err, 'BACKEND_UNAVAILABLE'), `traffic error is BACKEND_UNAVAILABLE: ${(err as Error)?.message}`)

        const started = Date.now()
        await assert.rejects(state.keys.set({ 'pre-key': { outage: keyPair(-1) } }), err => isVaultError(err, 'BACKEND_UNAVAILABLE'))
        await assert.rejects(saveCreds(), err => isVaultError(err, 'BACKEND_UNAVAILABLE'))
        await assert.rejects(state.keys.get('pre-key', ['never-cached']), err => isVaultError(err, 'BACKEND_UNAVAILABLE'))
        const waited = Date.now() - started
        assert.ok(waited < 5_000, `failed promptly during the outage, not queued (${waited} ms)`)

        await server.start()
        down = false
        // The same store object: its client reconnects by itself.
        const resumeStarted = Date.now()
        for (;;) {
          try {
            await state.keys.set({ 'pre-key': { after: keyPair(1_000_000) } })
            break
          } catch (err) {
            assert.ok(isVaultError(err, 'BACKEND_UNAVAILABLE'), String(err))
            if (Date.now() - resumeStarted > 30_000) throw new Error('the store did not resume within 30 s of the server restart', { cause: err })
            await sleep(100)
          }
        }
        assert.ok(sameKeyPair((await state.keys.get('pre-key', ['after'])).after, 1_000_000))
        await saveCreds()
        t.diagnostic(
          `${name}: ${before} writes before the outage, ${acked.size} acknowledged in all, ${errors.length} rejected during it; resumed ${Date.now() - resumeStarted} ms after restart`
        )

        // Nothing acknowledged is lost, and the write rejected during the outage never landed.
        // Read through a second store (no cache) so this is what the server really holds.
        const check = await openStore(target.url, target.options)
        try {
          const ids = [...acked].map(String)
          const stored = await check.readKeys('x', 'pre-key', [...ids, 'outage', 'after'])
          for (const i of acked) assert.ok(sameKeyPair(stored.get(String(i)), i), `acknowledged pre-key ${i} survived the outage`)
          assert.ok(!stored.has('outage'), 'a write rejected during the outage did not land later')
          assert.ok(stored.has('after'))
          assert.ok(await check.readCreds('x'), 'creds survived')
        } finally {
          await check.close()
        }
      } finally {
        if (down) await server.start().catch(() => undefined)
        await store.close()
        await target.cleanup?.()
      }
    })
  })
}

/** A new, empty database on the test MariaDB (VAULT_TEST_MYSQL_URL): its URL parts and a cleanup that drops it. */
export async function freshMysql(label: string): Promise<{ host: string; port: number; user: string; database: string; cleanup(): Promise<void> }> {
  const base = new URL(requireEnv('VAULT_TEST_MYSQL_URL'))
  const database = `vault_${unique(label)}`.slice(0, 64)
  const mysql = await import('mysql2/promise')
  const admin = () => mysql.createConnection({ host: base.hostname, port: Number(base.port), user: base.username })
  const conn = await admin()
  try {
    await conn.query(`CREATE DATABASE \`${database}\``)
  } finally {
    await conn.end()
  }
  return {
    host: base.hostname,
    port: Number(base.port),
    user: base.username,
    database,
    cleanup: async () => {
      const c = await admin()
      try {
        await c.query(`DROP DATABASE IF EXISTS \`${database}\``)
      } finally {
        await c.end()
      }
    }
  }
}
