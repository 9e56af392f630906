import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { openStore } from '../../src/open-store.js'
import { createMemoryDriver } from '../../src/drivers/memory.js'
import { DeferredBytes } from '../../src/core/deferred-bytes.js'
import { VaultError } from '../../src/core/errors.js'
import type { Driver } from '../../src/core/driver.js'

/**
 * memory: keeps a plain-JSON Signal session as DeferredBytes and encodes it when first read
 * (core/deferred-bytes.ts). Each test looks at what reached the driver, so it fails if the
 * auth state encodes at write time (the deferral is gone) or defers what it must not.
 */

/** A session as libsignal's SessionRecord.serialize() makes it: strings and numbers, numeric-keyed messageKeys. */
const session = (n: number) => ({
  _sessions: {
    BZiPI2WVSwg4qf5rNGZnop: {
      registrationId: 63 + n,
      currentRatchet: {
        ephemeralKeyPair: { pubKey: 'BR7d9Pas6uTb', privKey: 'MJKRvMuw2z14' },
        lastRemoteEphemeralKey: 'BbTm',
        previousCounter: n,
        rootKey: '4Mv0'
      },
      indexInfo: { baseKey: 'BZiP', baseKeyType: 1, closed: -1, used: 1796468186537, created: 1796468180459, remoteIdentityKey: 'BVrx' },
      _chains: { BQtRGVmx: { chainKey: { counter: n, key: undefined }, chainType: 2, messageKeys: { '5': 'a2V5', '12': 'b3Ro' } } }
    }
  },
  version: 'v1'
})

/** A memory driver that records the value of every set entry it is given; `deferredBytes` as told. */
function recordingDriver(deferredBytes: boolean, inner: Driver = createMemoryDriver()) {
  const given: Uint8Array[] = []
  const driver: Driver = {
    ...inner,
    capabilities: { ...inner.capabilities, deferredBytes },
    write(s, batch) {
      for (const [, , value] of batch.set) given.push(value)
      return inner.write(s, batch)
    }
  }
  return { driver, given, inner }
}

describe('deferred encoding on memory:', () => {
  it('hands a plain-JSON session to the driver unencoded, and the bytes it makes on read are those an encode at write makes', async () => {
    const deferred = recordingDriver(true)
    const eager = recordingDriver(false)
    for (const { driver } of [deferred, eager]) {
      const { state } = await (await openStore(driver)).useAuthState('s')
      for (let n = 0; n < 3; n++) await state.keys.set({ session: { '1555.0': session(n) as never } })
    }
    assert.equal(deferred.given.length, 3)
    assert.ok(
      deferred.given.every(v => v instanceof DeferredBytes),
      'each session write reached the driver deferred'
    )
    assert.ok(eager.given.every(v => !(v instanceof DeferredBytes) && v.byteLength > 0))
    const made = (await deferred.inner.get('s', 'session', ['1555.0'])).get('1555.0')!
    const encoded = (await eager.inner.get('s', 'session', ['1555.0'])).get('1555.0')!
    assert.deepEqual(Buffer.from(made), Buffer.from(encoded), 'byte for byte what the eager path stores')
    // Superseded sessions were never encoded: only the last one was made, by the read.
    assert.ok(deferred.given.slice(0, 2).every(v => (v as unknown as { made?: Uint8Array }).made === undefined))
  })

  it('a fresh auth state (empty cache), a listing and a second store on the same data read the value exactly', async () => {
    const { driver } = recordingDriver(true, createMemoryDriver({ name: `deferred-${process.pid}` }))
    const { state, saveCreds } = await (await openStore(driver)).useAuthState('s')
    await saveCreds()
    await state.keys.set({ session: { a: session(7) as never } })
    const expected = JSON.parse(JSON.stringify(session(7)))
    const other = await openStore(`memory:deferred-${process.pid}`)
    assert.deepEqual((await (await other.useAuthState('s')).state.keys.get('session', ['a'])).a, expected)
    const listed = []
    for await (const entry of other.listKeys('s', 'session', { values: true })) listed.push(entry)
    assert.deepEqual(listed, [['session', 'a', expected]])
  })

  it('bad input still fails the write at once, and nothing lands', async () => {
    const { driver, given, inner } = recordingDriver(true)
    const { state } = await (await openStore(driver)).useAuthState('s')
    const bad = { ...session(1), hook: () => 1 }
    await assert.rejects(
      state.keys.set({ session: { a: bad as never } }),
      (err: VaultError) => err.code === 'INVALID_ARGUMENT' && /a function/.test(err.message)
    )
    assert.equal(given.length, 0)
    assert.equal((await inner.get('s', 'session', ['a'])).size, 0)
  })

  it('values with bytes, and types the cache does not share, are encoded at write', async () => {
    const { driver, given } = recordingDriver(true)
    const { state } = await (await openStore(driver)).useAuthState('s')
    await state.keys.set({ session: { withBytes: { ...session(2), raw: Buffer.from([1, 2]) } as never } })
    await state.keys.set({ 'pre-key': { '1': { public: randomBytes(32), private: randomBytes(32) } } })
    await state.keys.set({ 'app-state-sync-version': { regular: { version: 3, hash: 'aGFzaA==', indexValueMap: {} } as never } })
    assert.equal(given.length, 3)
    assert.ok(given.every(v => !(v instanceof DeferredBytes) && v.byteLength > 0))
  })

  it('an encrypted memory: store seals the value when it is made, for its own location', async () => {
    const encryption = { keys: { k: randomBytes(32) }, current: 'k' }
    const name = `deferred-sealed-${process.pid}`
    const { driver, given } = recordingDriver(true, createMemoryDriver({ name }))
    const { state, saveCreds } = await (await openStore(driver, { encryption })).useAuthState('s')
    await saveCreds()
    await state.keys.set({ session: { a: session(3) as never } })
    assert.ok(given[0] instanceof DeferredBytes)
    const other = await openStore(`memory:${name}`, { encryption })
    const listed = []
    for await (const entry of other.listRaw('s', 'session')) listed.push(entry)
    const raw = listed[0]?.[2] ?? assert.fail('the session is listed with its value')
    assert.equal(other.protectionOf(raw).sealed, true)
    assert.deepEqual((await (await other.useAuthState('s')).state.keys.get('session', ['a'])).a, JSON.parse(JSON.stringify(session(3))))
  })
})
