import Database from 'better-sqlite3'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import type { WriteBatch } from '../src/core/driver.js'
import { VaultError } from '../src/core/errors.js'
import { GroupCommit, type GroupedBatch } from '../src/drivers/group-commit.js'
import { openStore } from '../src/open-store.js'
import { crashSuite } from './helpers/crash-suite.js'

const dirs: string[] = []
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})
const tempDb = () => {
  const dir = mkdtempSync(join(tmpdir(), 'vault-group-'))
  dirs.push(dir)
  return join(dir, 'store.db')
}

const batch = (id: string): WriteBatch => ({ set: [['session', id, Buffer.from(id)]], del: [] })
const turn = () => new Promise(resolve => setImmediate(resolve))

describe('GroupCommit (the generic queue)', () => {
  it('writes made in one event-loop turn form one group; writes made while it commits form the next', async () => {
    const groups: string[][] = []
    let release!: () => void
    const gate = new Promise<void>(resolve => (release = resolve))
    const queue = new GroupCommit({
      applyGroup: async group => {
        groups.push(group.map(g => `${g.session}/${g.batch.set[0][1]}`))
        if (groups.length === 1) await gate // the first commit is slow: others arrive meanwhile
        return group.map(() => undefined)
      }
    })
    const first = [queue.write('s1', batch('1')), queue.write('s2', batch('1')), queue.write('s1', batch('2'))]
    await turn()
    const second = [queue.write('s3', batch('1')), queue.write('s1', batch('3'))]
    await turn()
    assert.equal(groups.length, 1, 'the second group waits for the first commit')
    release()
    await Promise.all([...first, ...second])
    assert.deepEqual(groups, [
      ['s1/1', 's2/1', 's1/2'],
      ['s3/1', 's1/3']
    ])
  })

  it('rejects exactly the batches the driver failed, and every batch of a group that failed as a whole', async () => {
    let failWhole = false
    const queue = new GroupCommit({
      applyGroup: async (group: readonly GroupedBatch[]) => {
        if (failWhole) throw new Error('disk full (injected)')
        return group.map(g => (g.session === 'bad' ? new Error('bad batch') : undefined))
      }
    })
    const one = await Promise.allSettled([queue.write('ok', batch('1')), queue.write('bad', batch('1')), queue.write('ok2', batch('1'))])
    assert.deepEqual(
      one.map(r => r.status),
      ['fulfilled', 'rejected', 'fulfilled']
    )
    failWhole = true
    const two = await Promise.allSettled([queue.write('ok', batch('2')), queue.write('ok2', batch('2'))])
    assert.deepEqual(
      two.map(r => r.status),
      ['rejected', 'rejected']
    )
  })

  it('a driver that returns fewer outcomes than batches fails the group: nothing is reported saved by mistake', async () => {
    const queue = new GroupCommit({ applyGroup: async () => [undefined] })
    const r = await Promise.allSettled([queue.write('a', batch('1')), queue.write('b', batch('1'))])
    assert.deepEqual(
      r.map(x => x.status),
      ['rejected', 'rejected']
    )
  })

  it('with maxInFlight 2, the next group goes out while the first still commits; drain waits for both', async () => {
    const groups: string[][] = []
    let release!: () => void
    const gate = new Promise<void>(resolve => (release = resolve))
    const queue = new GroupCommit({
      maxInFlight: 2,
      applyGroup: async group => {
        groups.push(group.map(g => g.session))
        await gate
        return group.map(() => undefined)
      }
    })
    const writes = [queue.write('a', batch('1'))]
    await turn()
    writes.push(queue.write('b', batch('1')))
    await turn()
    assert.deepEqual(groups, [['a'], ['b']], 'the second group did not wait for the first reply')
    let drained = false
    const drain = queue.drain().then(() => (drained = true))
    await turn()
    assert.equal(drained, false)
    release()
    await Promise.all([...writes, drain])
  })

  it('drain waits for every queued batch', async () => {
    const done: string[] = []
    const queue = new GroupCommit({ applyGroup: async group => group.map(g => void done.push(g.session)) })
    void queue.write('a', batch('1'))
    void queue.write('b', batch('1'))
    await queue.drain()
    assert.deepEqual(done, ['a', 'b'])
  })
})

describe('sqlite group commit', () => {
  const SESSIONS = 8

  /** A store on a user-owned connection (the test sets pragmas and triggers on it). */
  async function open() {
    const path = tempDb()
    const database = new Database(path)
    const store = await openStore(`sqlite:${path}`, { sqlite: { database, groupCommit: true } })
    const auths = []
    for (let i = 0; i < SESSIONS; i++) {
      const auth = await store.useAuthState(`s${i}`)
      await auth.saveCreds()
      await auth.state.keys.set({ session: { 'peer.0': { v: 'before' } as any } })
      auths.push(auth)
    }
    return { path, database, store, auths }
  }

  /** What a second connection (the database, not any cache) holds for a session's key. */
  async function inDatabase(path: string, session: string, id = 'peer.0') {
    const other = await openStore(`sqlite:${path}`, { sqlite: { groupCommit: true } })
    try {
      return (await other.readKeys(session, 'session', [id])).get(id)
    } finally {
      await other.close()
    }
  }

  it('a group that hits disk full fails every write in it with BACKEND_UNAVAILABLE; cache and database agree; writes succeed once the fault clears', async () => {
    const { path, database, store, auths } = await open()
    try {
      // Real SQLITE_FULL: the database may grow by 3 pages, and the group needs far more. The
      // first batches fit, a later one does not: SQLite aborts the whole transaction.
      const pages = database.pragma('page_count', { simple: true }) as number
      database.pragma(`max_page_count = ${pages + 3}`)
      const big = (i: number) => ({ v: 'after', pad: Buffer.alloc(3000, i) }) as any
      const results = await Promise.allSettled(auths.map((a, i) => a.state.keys.set({ session: { 'peer.0': big(i) } })))
      for (const r of results) {
        assert.equal(r.status, 'rejected')
        assert.ok(r.reason instanceof VaultError && r.reason.code === 'BACKEND_UNAVAILABLE', String(r.reason))
        assert.match(r.reason.message, /full/)
      }
      for (const [i, a] of auths.entries()) {
        assert.deepEqual(await a.state.keys.get('session', ['peer.0']), { 'peer.0': { v: 'before' } }, `cache of s${i}`)
        assert.deepEqual(await inDatabase(path, `s${i}`), { v: 'before' }, `database of s${i}`)
      }

      database.pragma('max_page_count = 1073741823') // the disk has room again
      await Promise.all(auths.map((a, i) => a.state.keys.set({ session: { 'peer.0': big(i) } })))
      for (const [i, a] of auths.entries()) {
        assert.equal(((await a.state.keys.get('session', ['peer.0']))['peer.0'] as any).v, 'after')
        assert.equal((await inDatabase(path, `s${i}`))?.v, 'after')
      }
    } finally {
      await store.close()
      database.close()
    }
  })

  it('a batch that fails alone (its savepoint) rolls back alone; the others in its group commit', async () => {
    const { path, database, store, auths } = await open()
    try {
      database.exec(`CREATE TRIGGER refuse_poison BEFORE INSERT ON vault_keys WHEN NEW.id = 'poison.0' BEGIN SELECT RAISE(ABORT, 'refused (injected)'); END`)
      const results = await Promise.allSettled(
        auths.map((a, i) => a.state.keys.set({ session: { 'peer.0': { v: 'after' } as any, ...(i === 3 ? { 'poison.0': { v: 'x' } as any } : {}) } }))
      )
      assert.deepEqual(
        results.map(r => r.status),
        auths.map((_, i) => (i === 3 ? 'rejected' : 'fulfilled'))
      )
      assert.equal((results[3] as PromiseRejectedResult).reason.code, 'BACKEND_UNAVAILABLE')
      for (let i = 0; i < SESSIONS; i++) assert.deepEqual(await inDatabase(path, `s${i}`), { v: i === 3 ? 'before' : 'after' })
      assert.equal(await inDatabase(path, 's3', 'poison.0'), undefined)
    } finally {
      await store.close()
      database.close()
    }
  })

  it('under many concurrent writers, no session ever sees its writes applied out of order', async () => {
    const path = tempDb()
    const database = new Database(path)
    const store = await openStore(`sqlite:${path}`, { sqlite: { database, groupCommit: true } })
    try {
      // The database itself logs the order in which it applied each key write.
      database.exec(`CREATE TABLE applied (seq INTEGER PRIMARY KEY AUTOINCREMENT, session TEXT, id TEXT);
        CREATE TRIGGER log_insert AFTER INSERT ON vault_keys BEGIN INSERT INTO applied (session, id) VALUES (NEW.session, NEW.id); END;
        CREATE TRIGGER log_update AFTER UPDATE ON vault_keys BEGIN INSERT INTO applied (session, id) VALUES (NEW.session, NEW.id); END;`)
      const sessions = 20
      const writes = 30
      await Promise.all(
        Array.from({ length: sessions }, async (_, s) => {
          const { state, saveCreds } = await store.useAuthState(`w${s}`)
          const pending: Promise<void>[] = []
          for (let n = 0; n < writes; n++) {
            // Fired without waiting (as Baileys' events do), some across event-loop turns.
            pending.push(state.keys.set({ session: { 'counter.0': { n } as any, [`write${n}.0`]: { n } as any } }))
            if (n % 3 === s % 3) pending.push(saveCreds())
            if (n % 7 === 0) await turn()
          }
          await Promise.all(pending)
        })
      )
      const log = database.prepare(`SELECT session, id FROM applied WHERE id LIKE 'write%' ORDER BY seq`).all() as Array<{ session: string; id: string }>
      for (let s = 0; s < sessions; s++) {
        const order = log.filter(r => r.session === `w${s}`).map(r => Number(r.id.slice(5, -2)))
        assert.deepEqual(
          order,
          Array.from({ length: writes }, (_, n) => n),
          `order of w${s}`
        )
        assert.deepEqual(await inDatabase(path, `w${s}`, 'counter.0'), { n: writes - 1 })
      }
    } finally {
      await store.close()
      database.close()
    }
  })
})

// The gateway pattern: many conversations writing at once, so group commits are in flight when the SIGKILL lands.
crashSuite(
  'sqlite, gateway pattern (group commits in flight)',
  async () => {
    const path = tempDb()
    return { url: `sqlite:${path}`, options: { sqlite: { groupCommit: true } } }
  },
  Number(process.env.VAULT_CRASH_KILLS ?? 10),
  { pairs: 6 }
)
