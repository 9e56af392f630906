import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { AuthenticationCreds, SignalDataSet, SignalDataTypeMap } from '@whiskeysockets/baileys'
import { openStore } from '../../src/open-store.js'
import { copyFixture, manifest } from '../helpers/fixture.js'
import { assertConversationContinues } from '../helpers/conversation.js'
import type { NextSignalKeyStore } from '../types/next-baileys-key-store.js'

/**
 * Baileys' next release copies an account between stores with `migrateAuthState`: iterate the
 * source's `listIds`/`list` (for await), `get` in pages, `set` into the target. The copy below
 * follows that pattern against the structural copy of its contract (test/types/), with our
 * store as source and as target.
 */
const TYPES: Array<keyof SignalDataTypeMap> = [
  'pre-key',
  'session',
  'sender-key',
  'sender-key-memory',
  'app-state-sync-key',
  'app-state-sync-version',
  'lid-mapping',
  'device-list',
  'tctoken',
  'identity-key'
]

async function bulkCopy(from: NextSignalKeyStore, to: NextSignalKeyStore, options: { page?: number; onPage?: () => void } = {}): Promise<number> {
  const page = options.page ?? 100
  let copied = 0
  for (const type of TYPES) {
    let ids: string[] = []
    const flush = async () => {
      if (ids.length === 0) return
      const values = await from.get(type, ids)
      await to.set({ [type]: values } as SignalDataSet)
      copied += Object.keys(values).length
      ids = []
      options.onPage?.()
    }
    for await (const id of from.listIds!(type)) {
      ids.push(id)
      if (ids.length >= page) await flush()
    }
    await flush()
  }
  return copied
}

/** A plain in-memory key store written to Baileys develop's contract, as a user's adapter would be. */
function plainStore(): NextSignalKeyStore & { data: Map<string, Map<string, unknown>> } {
  const data = new Map<string, Map<string, unknown>>()
  const of = (type: string) => data.get(type) ?? data.set(type, new Map()).get(type)!
  return {
    data,
    get: (type, ids) => Object.fromEntries(ids.filter(id => of(type).has(id)).map(id => [id, of(type).get(id)])) as never,
    set(set) {
      for (const [type, byId] of Object.entries(set)) {
        for (const [id, v] of Object.entries(byId ?? {})) {
          if (v == null) of(type).delete(id)
          else of(type).set(id, v)
        }
      }
    },
    async *list(type) {
      for (const entry of of(type)) yield entry as never
    },
    async *listIds(type) {
      yield* of(type).keys()
    }
  }
}

const tmp = (prefix: string) => mkdtempSync(join(tmpdir(), prefix))

describe("Baileys' next key-store contract: listIds/list stream", () => {
  it('streams: listIds yields before the whole type is read, list gives decoded values', async () => {
    const store = await openStore('memory:')
    const { state, saveCreds } = await store.useAuthState('s')
    await saveCreds()
    const set: Record<string, unknown> = {}
    for (let i = 0; i < 300; i++) set[String(i)] = { public: Buffer.from([i % 256]), private: Buffer.from([1]) }
    await state.keys.set({ 'pre-key': set } as SignalDataSet)
    const iterator = state.keys.listIds('pre-key')[Symbol.asyncIterator]()
    const first = await iterator.next()
    assert.equal(first.done, false)
    assert.equal(typeof first.value, 'string')
    await iterator.return?.()
    let count = 0
    for await (const [id, value] of state.keys.list('pre-key')) {
      assert.ok(Buffer.isBuffer(value.public) || value.public instanceof Uint8Array, id)
      count++
    }
    assert.equal(count, 300)
    assert.equal((await state.keys.allIds('pre-key')).length, 300)
    await store.close()
  })

  it("copies the fixture's alice file: -> sqlite: with the pattern, and her conversation continues from the copy", async () => {
    const folder = copyFixture('alice')
    const source = await openStore(`file:${folder}`)
    const target = await openStore(`sqlite:${join(tmp('vault-bulk-'), 'a.db')}`)
    const from = await source.useAuthState('default')
    const to = await target.useAuthState('alice')
    Object.assign(to.state.creds, from.state.creds as AuthenticationCreds)
    await to.saveCreds()
    const copied = await bulkCopy(from.state.keys, to.state.keys, { page: 7 })
    assert.equal(copied, manifest.devices.alice.files - 1) // every file but creds.json
    for (const type of TYPES) assert.deepEqual(await to.state.keys.allIds(type), await from.state.keys.allIds(type), type)
    await source.close()
    await assertConversationContinues(target, 'alice')
    await target.close()
  })

  it('copies to and from a plain in-memory store written to the contract', async () => {
    const folder = copyFixture('alice')
    const source = await openStore(`file:${folder}`)
    const from = await source.useAuthState('default')
    const plain = plainStore()
    const out = await bulkCopy(from.state.keys, plain)
    assert.ok(out > 0)
    const target = await openStore('memory:')
    const back = await target.useAuthState('alice')
    Object.assign(back.state.creds, from.state.creds)
    await back.saveCreds()
    assert.equal(await bulkCopy(plain, back.state.keys, { page: 3 }), out)
    for (const type of TYPES) assert.deepEqual((await back.state.keys.allIds(type)).sort(), [...(plain.data.get(type)?.keys() ?? [])].sort(), type)
    await source.close()
    await assertConversationContinues(target, 'alice')
    await target.close()
  })

  it('copies a 100k-key session between two sqlite: stores in bounded memory (heap measured)', async () => {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    const dir = tmp('vault-bulk-100k-')
    // What is measured is memory, not durability: no fsync per commit keeps the test short.
    const options = { sqlite: { durability: 'normal' as const, groupCommit: false } }
    const source = await openStore(`sqlite:${join(dir, 'from.db')}`, options)
    const from = await source.useAuthState('big', { cacheEntries: 0 })
    await from.saveCreds()
    const TOTAL = 100_000
    const SESSIONS = 20_000
    const BATCH = 5_000
    // 80k pre-keys and 20k sessions of ~0.5 KiB: the decoded values of a whole type are tens of MiB.
    const record = { _sessions: { [Buffer.alloc(33, 5).toString('base64')]: { blob: Buffer.alloc(300, 1).toString('base64') } }, version: 'v1' }
    for (let i = 0; i < TOTAL; i += BATCH) {
      const set: SignalDataSet = i < TOTAL - SESSIONS ? { 'pre-key': {} } : { session: {} }
      for (let k = i; k < i + BATCH; k++) {
        if (k < TOTAL - SESSIONS) set['pre-key']![String(k)] = { public: Buffer.alloc(33, k % 256), private: Buffer.alloc(32, 7) }
        else set.session![`${k}.0`] = record as never
      }
      await from.state.keys.set(set)
    }
    const target = await openStore(`sqlite:${join(dir, 'to.db')}`, options)
    const to = await target.useAuthState('big', { cacheEntries: 0 })
    await to.saveCreds()

    // What the copy retains: the heap after a collection, sampled every 25 pages.
    const MiB = 2 ** 20
    gc()
    const base = process.memoryUsage().heapUsed
    let retained = 0
    let pages = 0
    const copied = await bulkCopy(from.state.keys, to.state.keys, {
      page: 1_000,
      onPage: () => {
        if (++pages % 25 !== 0) return
        gc()
        retained = Math.max(retained, process.memoryUsage().heapUsed - base)
      }
    })
    assert.equal(copied, TOTAL)
    assert.equal((await to.state.keys.allIds('session')).length, SESSIONS)

    // Control: the same keys held as arrays, as a whole-type read (Promise<array>) would hold them.
    gc()
    const before = process.memoryUsage().heapUsed
    const held: unknown[] = []
    for (const type of ['pre-key', 'session'] as const) for await (const entry of from.state.keys.list(type)) held.push(entry)
    gc()
    const whole = process.memoryUsage().heapUsed - before
    assert.equal(held.length, TOTAL)
    console.log(
      `# 100k-key bulk copy (pages of 1,000): heap retained at most +${(retained / MiB).toFixed(1)} MiB; the same keys held whole: +${(whole / MiB).toFixed(1)} MiB`
    )
    assert.ok(retained < whole / 4, `the streaming copy retained ${(retained / MiB).toFixed(1)} MiB; holding every key costs ${(whole / MiB).toFixed(1)} MiB`)
    await source.close()
    await target.close()
  })
})
