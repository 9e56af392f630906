import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Driver, ListEntry } from '../../src/core/driver.js'
import { createSqliteDriver } from '../../src/drivers/sqlite.js'
import { openStore } from '../../src/open-store.js'
import { instrument } from '../helpers/faulty-driver.js'

const tmpDb = () => join(mkdtempSync(join(tmpdir(), 'vault-prefetch-')), 'store.db')
const ids = (n: number) => Array.from({ length: n }, (_, i) => `1555000${String(i).padStart(4, '0')}.1`)
/** A session-shaped value per id (sessions are handed out shared, as decoded objects). */
const sessionOf = (id: string, version = 1) => ({ _sessions: { [id]: { registrationId: 7, version, chain: { key: `k-${id}-${version}` } } }, version: 'v1' })

function deferred() {
  let resolve!: () => void
  const promise = new Promise<void>(r => (resolve = r))
  return { promise, resolve }
}

/**
 * A real SQLite store holding `count` sessions, closed and opened again (nothing cached), with
 * its driver calls counted. `gateList`: the listing reads every row at once, then waits for the
 * test before handing them over, so the test can commit a write between the two.
 */
async function reopenedStore(count: number, options: { cacheEntries?: number; gateList?: Promise<void> } = {}) {
  const path = tmpDb()
  const first = await openStore(`sqlite:${path}`)
  const seeding = await first.useAuthState('s')
  await seeding.saveCreds()
  await seeding.state.keys.set({ session: Object.fromEntries(ids(count).map(id => [id, sessionOf(id)])) } as any)
  await first.close()

  const { driver, calls } = instrument(await createSqliteDriver({ path }))
  let listings = 0
  const gate = options.gateList
  const list: Driver['list'] = (session, type, listOptions) => {
    listings++
    const inner = driver.list(session, type, listOptions)
    if (!gate) return inner
    return (async function* () {
      const rows: ListEntry[] = []
      for await (const row of inner) rows.push(row)
      await gate
      yield* rows
    })()
  }
  const store = await openStore({ ...driver, list }, { cacheEntries: options.cacheEntries })
  const auth = await store.useAuthState('s')
  return { store, ...auth, calls, listings: () => listings }
}

describe('cold reads: batched prefetch', () => {
  it('a burst of single-key misses lists the type once; the reads that follow hit the cache and get what was stored', async () => {
    const { store, state, calls, listings } = await reopenedStore(30)
    try {
      const all = ids(30)
      const before = calls.get
      for (const id of all) assert.deepEqual((await state.keys.get('session', [id]))[id], sessionOf(id))
      assert.equal(listings(), 1, 'one listing of the type')
      assert.equal(calls.get - before, 7, 'the seven misses before the burst was recognised went to the driver; none after')
      // The listing held the whole type: an id it did not list is known absent, without a driver call.
      assert.deepEqual(await state.keys.get('session', ['15559999999.1']), {})
      assert.equal(calls.get - before, 7)
      // Other types are unaffected: a single miss there still asks the driver.
      assert.deepEqual(await state.keys.get('identity-key', ['x']), {})
      assert.equal(calls.get - before, 8)
    } finally {
      await store.close()
    }
  })

  it('a burst with hits in between (each member read twice: miss, hit, miss, hit…) is still a burst', async () => {
    const { store, state, calls, listings } = await reopenedStore(30)
    try {
      const before = calls.get
      for (const id of ids(30)) {
        assert.deepEqual((await state.keys.get('session', [id]))[id], sessionOf(id))
        assert.deepEqual((await state.keys.get('session', [id]))[id], sessionOf(id))
      }
      assert.equal(listings(), 1)
      assert.equal(calls.get - before, 7)
    } finally {
      await store.close()
    }
  })

  it('a warm session whose reads mostly hit never lists, however many misses add up over time', async () => {
    const { store, state, listings } = await reopenedStore(30)
    try {
      const warm = ids(3)
      for (const [i, id] of ids(30).entries()) {
        await state.keys.get('session', [id]) // a new contact now and then: a miss
        for (let n = 0; n < 4; n++) await state.keys.get('session', warm.slice((i + n) % 3, ((i + n) % 3) + 1)) // hits
      }
      assert.equal(listings(), 0)
    } finally {
      await store.close()
    }
  })

  it('opening a chat (a few misses) does not list anything', async () => {
    const { store, state, listings } = await reopenedStore(30)
    try {
      for (const id of ids(3)) await state.keys.get('session', [id])
      await state.keys.get('identity-key', ids(1))
      await state.keys.get('pre-key', ['1'])
      assert.equal(listings(), 0)
    } finally {
      await store.close()
    }
  })

  it('read-your-writes: a value committed while the prefetch lists is never shadowed by the listed old one', async () => {
    const gate = deferred()
    // A cache of 24 entries: the written key is evicted before the prefetch fills, so only the
    // prefetch's own bookkeeping (not the cache holding the new value) can keep the old one out.
    const { store, state, calls } = await reopenedStore(10, { cacheEntries: 24, gateList: gate.promise })
    try {
      const all = ids(10)
      for (const id of all.slice(0, 7)) await state.keys.get('session', [id])
      const [target, eighth] = [all[9], all[7]]
      assert.ok(target && eighth)
      const burst = state.keys.get('session', [eighth]) // the 8th miss: the listing reads every row now, old values
      await new Promise(resolve => setImmediate(resolve))
      await state.keys.set({ session: { [target]: sessionOf(target, 2) } } as any)
      // Evict the written key: 24 absent pre-keys, each a cached null.
      await state.keys.get(
        'pre-key',
        Array.from({ length: 24 }, (_, i) => String(i))
      )
      gate.resolve()
      assert.deepEqual((await burst)[eighth], sessionOf(eighth))
      const getsBefore = calls.get
      assert.deepEqual((await state.keys.get('session', [target]))[target], sessionOf(target, 2), 'the committed write, not the listed value')
      assert.equal(calls.get, getsBefore + 1, 'the written key was not filled by the prefetch: it was read from the database')
      // And a new id written after a complete listing is not "known absent".
      const fresh = '15558888888.1'
      await state.keys.set({ session: { [fresh]: sessionOf(fresh) } } as any)
      await state.keys.get(
        'pre-key',
        Array.from({ length: 24 }, (_, i) => String(100 + i))
      )
      assert.deepEqual((await state.keys.get('session', [fresh]))[fresh], sessionOf(fresh))
    } finally {
      await store.close()
    }
  })

  it('concurrent reads and writes of many keys during a prefetch: no read returns a value older than the last write issued before it', async () => {
    const { store, state } = await reopenedStore(40)
    try {
      const all = ids(40)
      const latest = new Map(all.map(id => [id, 1]))
      const work: Promise<void>[] = []
      for (let round = 0; round < 3; round++) {
        for (const [i, id] of all.entries()) {
          if (i % 3 === round) {
            const version = round + 2
            latest.set(id, version)
            work.push(state.keys.set({ session: { [id]: sessionOf(id, version) } } as any))
          }
          // A read may also see a write issued after it (reads do not queue behind writes), never an older one.
          const atLeast = latest.get(id)!
          work.push(
            state.keys.get('session', [id]).then(got => {
              const version = (got[id] as any)._sessions[id].version
              assert.ok(version >= atLeast, `${id} round ${round}: read version ${version}, but version ${atLeast} was written before the read`)
              assert.deepEqual(got[id], sessionOf(id, version))
            })
          )
        }
      }
      await Promise.all(work)
      for (const id of all) assert.deepEqual((await state.keys.get('session', [id]))[id], sessionOf(id, latest.get(id)))
    } finally {
      await store.close()
    }
  })
})
