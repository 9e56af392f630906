import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it, after } from 'node:test'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import pg from 'pg'
import type { Driver } from '../../src/core/driver.js'
import { isVaultError } from '../../src/core/errors.js'
import { createPostgresDriver } from '../../src/drivers/postgres.js'
import { createSqliteDriver } from '../../src/drivers/sqlite.js'
import { leaseOwner } from '../../src/drivers/shared-lease.js'
import { openStore } from '../../src/open-store.js'
import { freshPostgres, freshRedis } from '../helpers/servers.js'
import { until } from '../../src/testing/conformance.js'

const CHILD = fileURLToPath(new URL('../helpers/lease-child.js', import.meta.url))
const temps: string[] = []
const tempDir = (label: string) => {
  const dir = mkdtempSync(join(tmpdir(), `vault-lease-${label}-`))
  temps.push(dir)
  return dir
}
after(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true })
})

/** The real sqlite driver, counting the writes it is asked for (proves "never retried"). */
async function countingSqlite(path: string) {
  const driver = await createSqliteDriver({ path })
  const writes: Array<number | undefined> = []
  const counted: Driver = {
    ...driver,
    write: (session, batch) => {
      writes.push(batch.epoch)
      return driver.write(session, batch)
    }
  }
  return { driver: counted, writes }
}

describe('leases through the store and the auth state', () => {
  it('an auth state opened with a lease stamps its epoch on every write; LEASE_LOST propagates, is never retried, and lands nothing', async () => {
    const path = join(tempDir('auth'), 'store.db')
    const { driver, writes } = await countingSqlite(path)
    const a = await openStore(driver)
    const b = await openStore(`sqlite:${path}`)
    try {
      const lease = await a.acquireLease('bot', { owner: leaseOwner(), ttlMs: 30_000 })
      const auth = await a.useAuthState('bot', { lease })
      await auth.saveCreds()
      await auth.state.keys.set({ 'pre-key': { '1': { public: Buffer.alloc(32, 1), private: Buffer.alloc(32, 2) } } })
      assert.deepEqual(writes, [lease.epoch, lease.epoch], 'every write carries the epoch')

      // Another process takes over (the first one's lease expired, or it was released).
      await a.releaseLease(lease)
      const other = await b.acquireLease('bot', { owner: leaseOwner(), ttlMs: 30_000 })
      assert.ok(other.epoch > lease.epoch)
      await assert.rejects(auth.saveCreds(), err => isVaultError(err, 'LEASE_LOST'))
      await assert.rejects(auth.state.keys.set({ 'pre-key': { '2': { public: Buffer.alloc(32, 3), private: Buffer.alloc(32, 4) } } }), err =>
        isVaultError(err, 'LEASE_LOST')
      )
      assert.equal(writes.length, 4, 'each failed write was tried once')
      const raw = new Database(path, { readonly: true })
      assert.equal(raw.prepare(`SELECT count(*) FROM vault_keys WHERE session = 'bot' AND id = '2'`).pluck().get(), 0)
      raw.close()
      await assert.rejects(a.renewLease(lease), err => isVaultError(err, 'LEASE_LOST'))
      assert.equal((await a.leaseInfo('bot'))?.epoch, other.epoch)
    } finally {
      await a.close()
      await b.close()
    }
  })

  it("a new epoch drops the cache: what another owner wrote in between is read, not the old owner's cached value", async () => {
    const path = join(tempDir('cache'), 'store.db')
    const a = await openStore(`sqlite:${path}`)
    const b = await openStore(`sqlite:${path}`)
    const ownerA = leaseOwner()
    const key = (n: number) => ({ public: Buffer.alloc(32, n), private: Buffer.alloc(32, n) })
    try {
      const first = await a.acquireLease('bot', { owner: ownerA, ttlMs: 30_000 })
      const auth1 = await a.useAuthState('bot', { lease: first })
      await auth1.saveCreds() // a real session: creds first (keys alone would be refused as half-made)
      await auth1.state.keys.set({ 'pre-key': { '1': key(1) } })
      await a.releaseLease(first)
      const lb = await b.acquireLease('bot', { owner: leaseOwner(), ttlMs: 30_000 })
      await (await b.useAuthState('bot', { lease: lb })).state.keys.set({ 'pre-key': { '1': key(9) } })
      await b.releaseLease(lb)
      const second = await a.acquireLease('bot', { owner: ownerA, ttlMs: 30_000 })
      const auth2 = await a.useAuthState('bot', { lease: second })
      const got = await auth2.state.keys.get('pre-key', ['1'])
      assert.deepEqual(Buffer.from(got['1']?.public ?? []), Buffer.alloc(32, 9))
    } finally {
      await a.close()
      await b.close()
    }
  })

  it('refuses a lease of another session, and a store without leases says so', async () => {
    const store = await openStore('memory:')
    try {
      const lease = await store.acquireLease('one', { owner: leaseOwner(), ttlMs: 30_000 })
      await assert.rejects(store.useAuthState('two', { lease }), err => isVaultError(err, 'INVALID_ARGUMENT'))
      const plain = await openStore({ ...(await createSqliteDriver({ path: ':memory:' })), lease: undefined })
      await assert.rejects(
        plain.acquireLease('one', { owner: leaseOwner(), ttlMs: 30_000 }),
        err => isVaultError(err, 'INVALID_ARGUMENT') && /does not support leases/.test((err as Error).message)
      )
      await plain.close()
    } finally {
      await store.close()
    }
  })
})

describe('postgres: the fence inside the write statement', () => {
  it('a fenced write that meets an acquisition in flight waits for it, then fails with LEASE_LOST and lands nothing', async () => {
    const db = await freshPostgres('lease-fence-race')
    const d = await createPostgresDriver({ url: db.url })
    const taker = new pg.Client({ connectionString: db.url })
    const watcher = new pg.Client({ connectionString: db.url })
    await taker.connect()
    await watcher.connect()
    try {
      const mine = await d.lease!.acquire('s', { owner: leaseOwner(), ttlMs: 30_000 })
      await d.write('s', { creds: Buffer.from('mine'), set: [], del: [], epoch: mine.epoch })
      // Another owner's acquisition, not yet committed when the write starts.
      await taker.query('BEGIN')
      await taker.query(`UPDATE vault_lease SET owner = 'elsewhere.example:1:x', epoch = epoch + 1 WHERE session = 's'`)
      const write = d.write('s', { creds: Buffer.from('zombie'), set: [['session', 'a', Buffer.from('1')]], del: [], epoch: mine.epoch })
      const waiting = () => watcher.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`)
      await until(async () => ((await waiting()).rows[0].n > 0 ? true : undefined))
      await taker.query('COMMIT')
      await assert.rejects(write, err => isVaultError(err, 'LEASE_LOST'))
      const creds = await watcher.query(`SELECT value FROM vault_creds WHERE session = 's'`)
      assert.equal(creds.rows[0].value.toString(), 'mine')
      assert.equal((await watcher.query(`SELECT count(*)::int AS n FROM vault_keys WHERE session = 's'`)).rows[0].n, 0)
    } finally {
      await taker.end()
      await watcher.end()
      await d.close()
      await db.cleanup()
    }
  })
})

interface Outcome {
  won: boolean
  owner: string
  epoch?: number
  code?: string
  message?: string
}

/** Starts `n` children, lets them all ask at once, and returns what each got. */
async function race(url: string, session: string, n: number): Promise<Array<Outcome & { pid: number }>> {
  const children = Array.from({ length: n }, () => spawn(process.execPath, [CHILD, url, session, '30000'], { stdio: ['pipe', 'pipe', 'inherit'] }))
  const lines = children.map(child => {
    const out: string[] = []
    let buffer = ''
    child.stdout.on('data', chunk => {
      buffer += chunk
      const parts = buffer.split('\n')
      buffer = parts.pop()!
      out.push(...parts)
    })
    return out
  })
  const exited = children.map(child => new Promise(resolve => child.on('exit', resolve)))
  await until(async () => (lines.every(l => l.includes('ready')) ? true : undefined), 30_000)
  for (const child of children) child.stdin.write('go\n')
  await until(async () => (lines.every(l => l.some(x => x.startsWith('{'))) ? true : undefined), 30_000)
  for (const child of children) child.stdin.write('exit\n')
  await Promise.all(exited)
  return children.map((child, i) => ({
    ...(JSON.parse(lines[i]?.find(l => l.startsWith('{')) ?? assert.fail(`child ${i} printed no outcome`)) as Outcome),
    pid: child.pid!
  }))
}

describe('leases across real processes', () => {
  const targets: Array<[string, () => Promise<{ url: string; cleanup?: () => Promise<void> }>]> = [
    ['sqlite', async () => ({ url: `sqlite:${join(tempDir('race'), 'store.db')}` })],
    ['file', async () => ({ url: `file:${join(tempDir('race'), 'auth')}` })],
    ['postgres', () => freshPostgres('lease-race')],
    ['redis', () => freshRedis('lease-race')]
  ]
  for (const [name, make] of targets) {
    it(`${name}: three processes race for one lease; exactly one wins and the others are told who holds it`, async () => {
      const target = await make()
      try {
        if (name === 'sqlite' || name === 'postgres') await (await openStore(target.url)).close() // schema first, so the race is only about the lease
        const outcomes = await race(target.url, 'raced', 3)
        const winners = outcomes.filter(o => o.won)
        assert.equal(winners.length, 1, JSON.stringify(outcomes))
        const [winner = assert.fail('one winner')] = winners
        for (const loser of outcomes.filter(o => !o.won)) {
          assert.equal(loser.code, 'LEASE_HELD')
          assert.match(loser.message!, new RegExp(`pid ${winner.pid}\\b`))
        }
        const store = await openStore(target.url)
        try {
          const info = await store.leaseInfo('raced')
          assert.equal(info?.owner, winner.owner)
          assert.equal(info?.epoch, winner.epoch)
          assert.equal(info?.ownerAlive, false, 'the winner exited without releasing: its pid is gone')
        } finally {
          await store.close()
        }
      } finally {
        await target.cleanup?.()
      }
    })
  }
})
