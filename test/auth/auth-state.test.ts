import assert from 'node:assert/strict'
import { describe, it, test } from 'node:test'
import { createHook } from 'node:async_hooks'
import Database from 'better-sqlite3'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openStore, useFileAuthState, useSqliteAuthState } from '../../src/open-store.js'
import { copyFixture, readBaileysFolder } from '../helpers/fixture.js'
import { createMemoryDriver } from '../../src/drivers/memory.js'
import { createSqliteDriver } from '../../src/drivers/sqlite.js'
import { VaultError } from '../../src/core/errors.js'
import { instrument } from '../helpers/faulty-driver.js'

const tmpDb = () => join(mkdtempSync(join(tmpdir(), 'vault-auth-')), 'store.db')
const isVault = (code: string) => (e: unknown) => e instanceof VaultError && e.code === code

describe('useAuthState', () => {
  it('starts a new device only when no creds exist, and writes nothing until saveCreds', async () => {
    const { driver, calls } = instrument(createMemoryDriver())
    const store = await openStore(driver)
    const auth = await store.useAuthState('fresh')
    assert.equal(auth.isNew, true)
    assert.ok(auth.state.creds.noiseKey.private.length === 32)
    assert.equal(calls.write, 0)
    await auth.saveCreds()
    const again = await store.useAuthState('fresh')
    assert.equal(again.isNew, false)
    assert.deepEqual(again.state.creds.noiseKey, auth.state.creds.noiseKey)
  })

  it('raises CORRUPT_DATA naming the session for damaged creds, and leaves the row as it was', async () => {
    const path = tmpDb()
    const first = await useSqliteAuthState(path, 'acct-7')
    await first.saveCreds()
    await first.close()
    const db = new Database(path)
    const torn = Buffer.from('\u0001{"noiseKey":{"private":')
    db.prepare('UPDATE vault_creds SET value = ? WHERE session = ?').run(torn, 'acct-7')
    await assert.rejects(useSqliteAuthState(path, 'acct-7'), (e: unknown) => isVault('CORRUPT_DATA')(e) && (e as Error).message.includes('acct-7'))
    const store = await openStore(`sqlite:${path}`)
    await assert.rejects(store.useAuthState('acct-7'), isVault('CORRUPT_DATA'))
    await store.close()
    assert.deepEqual(db.prepare('SELECT value FROM vault_creds WHERE session = ?').pluck().get('acct-7'), torn)
    db.close()
  })

  it('saveCreds stores the creds as they were at call time and lands concurrent calls in order', async () => {
    const { driver, calls } = instrument(createMemoryDriver())
    const store = await openStore(driver)
    const { state, saveCreds } = await store.useAuthState('c')
    state.creds.nextPreKeyId = 10
    const p1 = saveCreds()
    state.creds.nextPreKeyId = 20
    const p2 = saveCreds()
    state.creds.nextPreKeyId = 30
    const p3 = saveCreds()
    state.creds.nextPreKeyId = 99 // after the last call: must not be saved
    await Promise.all([p1, p2, p3])
    const saved = calls.writes.map(b => JSON.parse(Buffer.from(b.creds!).subarray(1).toString()).nextPreKeyId)
    assert.deepEqual(saved, [10, 20, 30])
    assert.equal((await store.readCreds('c'))!.nextPreKeyId, 30)
  })

  it('applies a keys.set batch as one atomic write; null and undefined delete', async () => {
    const { driver, calls } = instrument(createMemoryDriver())
    const store = await openStore(driver)
    const { state } = await store.useAuthState('k')
    await state.keys.set({
      'pre-key': { '1': { public: Buffer.from([1]), private: Buffer.from([2]) }, '2': { public: Buffer.from([3]), private: Buffer.from([4]) } },
      'lid-mapping': { '155': '900' }
    })
    assert.equal(calls.write, 1)
    await state.keys.set({ 'pre-key': { '1': null, '2': undefined as any }, 'lid-mapping': { '155': '901' } })
    assert.equal(calls.write, 2)
    assert.deepEqual(calls.writes[1]?.del.sort(), [
      ['pre-key', '1'],
      ['pre-key', '2']
    ])
    assert.deepEqual(await state.keys.get('pre-key', ['1', '2']), {})
    assert.deepEqual(await state.keys.get('lid-mapping', ['155']), { '155': '901' })
    await state.keys.set({})
    assert.equal(calls.write, 2, 'an empty set writes nothing')
  })

  it('a failed write rejects with BACKEND_UNAVAILABLE and the cache keeps agreeing with the backend', async () => {
    const { driver, failNextWrites } = instrument(createMemoryDriver())
    const store = await openStore(driver)
    const { state } = await store.useAuthState('f')
    await state.keys.set({ 'lid-mapping': { a: 'old' } })
    assert.deepEqual(await state.keys.get('lid-mapping', ['a', 'b']), { a: 'old' }) // now cached, b cached absent
    failNextWrites()
    await assert.rejects(state.keys.set({ 'lid-mapping': { a: 'new', b: 'new' } }), isVault('BACKEND_UNAVAILABLE'))
    assert.deepEqual(await state.keys.get('lid-mapping', ['a', 'b']), { a: 'old' })
    assert.deepEqual([...(await driver.get('f', 'lid-mapping', ['a', 'b'])).keys()], ['a'])
    failNextWrites()
    await assert.rejects(state.keys.set({ 'lid-mapping': { a: null } }), isVault('BACKEND_UNAVAILABLE'))
    assert.deepEqual(await state.keys.get('lid-mapping', ['a']), { a: 'old' })
    // And the next write goes through.
    await state.keys.set({ 'lid-mapping': { a: 'newer' } })
    assert.deepEqual(await state.keys.get('lid-mapping', ['a']), { a: 'newer' })
  })

  it('serves repeated reads, including known-absent ids, from a bounded cache', async () => {
    const { driver, calls } = instrument(createMemoryDriver())
    const store = await openStore(driver, { cacheEntries: 3 })
    const { state } = await store.useAuthState('cache')
    await state.keys.set({ session: { a: { x: 1 }, b: { x: 2 } } } as any)
    const before = calls.get
    assert.deepEqual(await state.keys.get('session', ['a', 'b', 'missing']), { a: { x: 1 }, b: { x: 2 } })
    assert.equal(calls.get, before + 1, 'only the never-seen id went to the backend')
    await state.keys.get('session', ['a', 'b', 'missing'])
    assert.equal(calls.get, before + 1, 'all three now cached')
    await state.keys.get('session', ['c', 'd']) // evicts the oldest entries
    await state.keys.get('session', ['a'])
    assert.equal(calls.get, before + 3)
    // Types cached as bytes: a value handed out and mutated by the caller changes nothing.
    await state.keys.set({ 'device-list': { u: ['0', '1'] } })
    const got = await state.keys.get('device-list', ['u'])
    assert.ok(got.u)
    got.u.push('mutated')
    assert.deepEqual(await state.keys.get('device-list', ['u']), { u: ['0', '1'] })
  })

  it('lists ids and values, and clear removes every key but keeps creds', async () => {
    const store = await openStore('memory:')
    const { state, saveCreds } = await store.useAuthState('l')
    await saveCreds()
    await state.keys.set({
      'pre-key': { '3': { public: Buffer.from([3]), private: Buffer.from([3]) }, '1': { public: Buffer.from([1]), private: Buffer.from([1]) } },
      session: { s: { a: 1 } }
    } as any)
    assert.deepEqual(await state.keys.allIds('pre-key'), ['1', '3'])
    const listed: Array<readonly [string, unknown]> = []
    for await (const entry of state.keys.list('session')) listed.push(entry)
    assert.deepEqual(listed, [['s', { a: 1 }]])
    await state.keys.clear()
    assert.deepEqual(await state.keys.allIds('pre-key'), [])
    assert.deepEqual(await state.keys.get('session', ['s']), {})
    assert.ok(await store.readCreds('l'))
  })

  it('rejects bad input with INVALID_ARGUMENT and a message that says what is expected', async () => {
    const store = await openStore('memory:')
    await assert.rejects(store.useAuthState(''), isVault('INVALID_ARGUMENT'))
    await assert.rejects(store.useAuthState('a\u0000b'), isVault('INVALID_ARGUMENT'))
    await assert.rejects(store.useAuthState(42 as any), isVault('INVALID_ARGUMENT'))
    await assert.rejects(store.useAuthState('lone \ud800 surrogate'), isVault('INVALID_ARGUMENT'))
    const { state } = await store.useAuthState('ok')
    await assert.rejects(state.keys.get('Not A Type' as any, ['1']), isVault('INVALID_ARGUMENT'))
    await assert.rejects(state.keys.set({ session: { ['x'.repeat(600)]: { a: 1 } } } as any), isVault('INVALID_ARGUMENT'))
    await assert.rejects(state.keys.set({ session: { ['a\udc00']: { a: 1 } } } as any), isVault('INVALID_ARGUMENT'))
    await assert.rejects(openStore('ftp://example'), (e: unknown) => isVault('INVALID_ARGUMENT')(e) && /sqlite:/.test((e as Error).message))
    await assert.rejects(openStore('postgres://user:hunter2@127.0.0.1:1/x'), (e: unknown) => !String((e as Error).message).includes('hunter2'))
  })

  it('refuses a SQLite file from a newer schema version without touching it', async () => {
    const path = tmpDb()
    await (await openStore(`sqlite:${path}`)).close()
    const db = new Database(path)
    db.prepare(`UPDATE vault_meta SET value = '99' WHERE key = 'schema_version'`).run()
    db.close()
    await assert.rejects(openStore(`sqlite:${path}`), (e: unknown) => isVault('UNSUPPORTED_FORMAT')(e) && /Upgrade baileys-vault/.test((e as Error).message))
    const check = new Database(path, { readonly: true })
    assert.equal(check.prepare(`SELECT value FROM vault_meta WHERE key = 'schema_version'`).pluck().get(), '99')
    check.close()
  })

  it('refuses a file that is not a SQLite database with CORRUPT_DATA', async () => {
    const path = tmpDb()
    const { writeFileSync, readFileSync } = await import('node:fs')
    writeFileSync(path, 'this is not a database '.repeat(100))
    await assert.rejects(openStore(`sqlite:${path}`), isVault('CORRUPT_DATA'))
    assert.equal(readFileSync(path, 'utf8'), 'this is not a database '.repeat(100))
  })

  it('useFileAuthState continues an existing Baileys folder in place, like useMultiFileAuthState', async () => {
    const folder = copyFixture('carol')
    const expected = await readBaileysFolder(folder)
    const auth = await useFileAuthState(folder)
    assert.equal(auth.isNew, false)
    assert.deepEqual(auth.state.creds, expected.creds)
    const [type, id, value] = expected.keys.find(([t]) => t === 'session')!
    assert.deepEqual((await auth.state.keys.get(type as any, [id]))[id], value)
    await auth.close()
  })

  it('close() lets writes already handed to the store land before closing the backend', async () => {
    const path = tmpDb()
    const store = await openStore(`sqlite:${path}`)
    const { state, saveCreds } = await store.useAuthState('closing')
    const pending = [saveCreds(), state.keys.set({ 'lid-mapping': { a: '1' } }), state.keys.set({ 'lid-mapping': { b: '2' } })]
    await store.close()
    await Promise.all(pending)
    await assert.rejects(state.keys.set({ 'lid-mapping': { c: '3' } }), isVault('INVALID_ARGUMENT'))
    const again = await openStore(`sqlite:${path}`)
    assert.deepEqual(Object.fromEntries(await again.readKeys('closing', 'lid-mapping', ['a', 'b', 'c'])), { a: '1', b: '2' })
    assert.ok(await again.readCreds('closing'))
    await again.close()
  })

  it('a second useAuthState of the same session shares the cache and write order of the first', async () => {
    const store = await openStore('memory:')
    const first = await store.useAuthState('again')
    await first.state.keys.set({ 'lid-mapping': { a: 'old' } })
    assert.deepEqual(await first.state.keys.get('lid-mapping', ['a']), { a: 'old' })
    const second = await store.useAuthState('again') // e.g. a bot reconnecting
    await second.state.keys.set({ 'lid-mapping': { a: 'new' } })
    assert.deepEqual(await first.state.keys.get('lid-mapping', ['a']), { a: 'new' })
    await store.close()
  })

  it('keeps many accounts apart in one database', async () => {
    const path = tmpDb()
    const store = await openStore(`sqlite:${path}`)
    const a = await store.useAuthState('a')
    const b = await store.useAuthState('b')
    await a.saveCreds()
    await b.saveCreds()
    await a.state.keys.set({ 'lid-mapping': { x: 'from-a' } })
    await b.state.keys.set({ 'lid-mapping': { x: 'from-b' } })
    assert.deepEqual(await a.state.keys.get('lid-mapping', ['x']), { x: 'from-a' })
    const sessions: string[] = []
    for await (const s of store.sessions()) sessions.push(s)
    assert.deepEqual(sessions, ['a', 'b'])
    assert.notDeepEqual((await store.readCreds('a'))!.noiseKey, (await store.readCreds('b'))!.noiseKey)
    await store.close()
    await assert.rejects(store.readCreds('a'), isVault('INVALID_ARGUMENT'))
  })

  it('a keys.set on a driver that commits on call makes one promise, a cache hit none beyond its answer (each costs a copy of every AsyncLocalStorage)', async () => {
    const store = await openStore('memory:')
    const { state } = await store.useAuthState('promises')
    // A Signal session as Baileys stores it (SessionRecord.serialize(); Baileys types it as bytes).
    const session = { _sessions: {}, version: 'v1' } as any
    await state.keys.set({ session: { '1.0': session } })
    /** Promises created from the call until the result settles (the await itself makes none). */
    const promisesOf = async (call: () => Promise<unknown>) => {
      let made = 0
      const hook = createHook({
        init(_id, type) {
          if (type === 'PROMISE') made++
        }
      }).enable()
      try {
        await call()
      } finally {
        hook.disable()
      }
      return made
    }
    // What the measuring costs by itself (with a hook enabled, an await makes promises of its own).
    const settled = Promise.resolve()
    const measuring = await promisesOf(() => settled)
    assert.equal((await promisesOf(() => state.keys.set({ session: { '1.0': session }, 'identity-key': { '1.0': Buffer.alloc(33, 5) } }))) - measuring, 1)
    assert.equal((await promisesOf(() => state.keys.get('session', ['1.0']))) - measuring, 1)
    assert.deepEqual((await state.keys.get('session', ['1.0']))['1.0'], session)
    await store.close()
  })
  it('observers time each committed write once and count failures; a write refused before the driver leaves no key in flight', async () => {
    const { driver, calls, failNextWrites } = instrument(createMemoryDriver())
    const store = await openStore(driver)
    const events: string[] = []
    store.observe({ write: e => void events.push(`write ${e.driver}`), error: e => void events.push(`error ${e.code}`) })
    const { state, saveCreds } = await store.useAuthState('o')
    await saveCreds()
    events.length = 0
    await state.keys.set({ 'lid-mapping': { a: 'one' } })
    failNextWrites()
    await assert.rejects(state.keys.set({ 'lid-mapping': { a: 'two' } }), isVault('BACKEND_UNAVAILABLE'))
    assert.deepEqual(events, ['write memory', 'error BACKEND_UNAVAILABLE'])
    assert.deepEqual(await state.keys.get('lid-mapping', ['a']), { a: 'one' })

    // Refused by the store itself (read-only): the key must not stay "in flight", or every later
    // read of it would skip the cache and ask the driver.
    const readOnly = await openStore(driver, { readOnly: true })
    const { state: ro } = await readOnly.useAuthState('o')
    assert.deepEqual(await ro.keys.get('lid-mapping', ['a']), { a: 'one' })
    await assert.rejects(ro.keys.set({ 'lid-mapping': { a: 'three' } }), isVault('INVALID_ARGUMENT'))
    const before = calls.get
    assert.deepEqual(await ro.keys.get('lid-mapping', ['a']), { a: 'one' })
    assert.deepEqual(await ro.keys.get('lid-mapping', ['a']), { a: 'one' })
    assert.ok(calls.get <= before + 1, `the key is read from the backend at most once more, not on every read (${calls.get - before})`)
  })
})

describe('auth state: read your writes while a write is in flight', () => {
  test('a key read during an in-flight write of that key returns the written value, not the one before', async () => {
    // A slow backend (as PostgreSQL is, next to SQLite): Baileys commits a decrypt's session while
    // a reply, in another transaction, reads the same session. The reply must see the new state.
    const dir = mkdtempSync(join(tmpdir(), 'vault-runtime-ryw-'))
    const inner = await createSqliteDriver({ path: join(dir, 'x.db') })
    let delay = 0
    const slow = {
      ...inner,
      // It no longer commits on call: the write happens after the delay.
      capabilities: { ...inner.capabilities, commitsOnCall: false },
      write: async (s: string, b: Parameters<typeof inner.write>[1]) => {
        await new Promise(r => setTimeout(r, delay))
        return inner.write(s, b)
      }
    }
    const store = await openStore(slow as never)
    try {
      const { state } = await store.useAuthState('s')
      await state.keys.set({ session: { alice: { version: 1 } as never } })
      assert.deepEqual((await state.keys.get('session', ['alice'])).alice, { version: 1 })
      delay = 50
      const writing = state.keys.set({ session: { alice: { version: 2 } as never } })
      assert.deepEqual((await state.keys.get('session', ['alice'])).alice, { version: 2 })
      await writing
      const cold = await openStore(await createSqliteDriver({ path: join(dir, 'x.db') }))
      assert.deepEqual((await cold.readKeys('s', 'session', ['alice'])).get('alice'), { version: 2 })
      await cold.close()
    } finally {
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
