import assert from 'node:assert/strict'
import { describe, it, before, after } from 'node:test'
import type { Driver } from '../core/driver.js'

/**
 * Reads the backend directly (SQL, Redis commands, files), bypassing the driver, so the
 * suite checks what really landed and not only what the driver says.
 */
export interface RawReader {
  creds(session: string): Promise<Uint8Array | undefined>
  key(session: string, type: string, id: string): Promise<Uint8Array | undefined>
  /** Number of keys stored for the session (all types). */
  countKeys(session: string): Promise<number>
}

export interface DriverHarness {
  /** Opens a driver on the suite's backend; called several times: each must see the same data. */
  open(): Promise<Driver>
  raw: RawReader
  /** Whether the driver offers consistent snapshots (checked either way). */
  snapshot: boolean
  /** Removes the backend's data after the suite. */
  cleanup?(): Promise<void>
}

const bytes = (text: string) => Buffer.from(text, 'utf8')
const collect = async <T>(it: AsyncIterable<T>) => {
  const out: T[] = []
  for await (const x of it) out.push(x)
  return out
}

/** Ids that break naive stores: path separators, traversal, JID punctuation, unicode, length. */
export const TRICKY_IDS = [
  '15550000001.0',
  '90000000000002_1.0',
  '120363000000000001@g.us::15550000002::0',
  '../../etc/passwd',
  'a/b\\c',
  'has space',
  'ünïcødé-✓',
  '__index',
  'CON',
  '.hidden',
  'x'.repeat(400)
]

/**
 * The conformance suite every driver passes. `name` labels the tests; `make` builds a harness
 * on a fresh, empty backend.
 */
export function driverConformance(name: string, make: () => Promise<DriverHarness>): void {
  describe(`driver conformance: ${name}`, () => {
    let h: DriverHarness
    let d: Driver
    let n = 0
    // Each test uses its own session ids, so tests do not depend on each other's leftovers.
    const sid = (label: string) => `s${++n}-${label}`

    before(async () => {
      h = await make()
      d = await h.open()
    })
    after(async () => {
      await d?.close()
      await h?.cleanup?.()
    })

    it('an unknown session has no creds, no keys and is not listed', async () => {
      const s = sid('empty')
      assert.equal(await d.getCreds(s), undefined)
      assert.equal((await d.get(s, 'pre-key', ['1', '2'])).size, 0)
      assert.deepEqual(await collect(d.list(s)), [])
      assert.ok(!(await collect(d.sessions())).includes(s))
      assert.equal(await h.raw.creds(s), undefined)
    })

    it('writes creds and keys in one batch and the backend holds exactly those bytes', async () => {
      const s = sid('batch')
      const value = Buffer.from([0, 1, 2, 250, 255, 10, 13])
      await d.write(s, { creds: bytes('{"creds":1}'), set: [['pre-key', '1', value], ['session', '15550000001.0', bytes('{"s":1}')]], del: [] })
      assert.deepEqual(Buffer.from((await h.raw.creds(s))!), bytes('{"creds":1}'))
      assert.deepEqual(Buffer.from((await h.raw.key(s, 'pre-key', '1'))!), value)
      assert.deepEqual(Buffer.from((await d.getCreds(s))!), bytes('{"creds":1}'))
      const got = await d.get(s, 'pre-key', ['1'])
      assert.deepEqual(Buffer.from(got.get('1')!), value)
      assert.equal(await h.raw.countKeys(s), 2)
      assert.ok((await collect(d.sessions())).includes(s))
    })

    it('gets many ids at once; missing ids are absent', async () => {
      const s = sid('many')
      const set: Array<[string, string, Uint8Array]> = []
      for (let i = 0; i < 50; i++) set.push(['pre-key', String(i), bytes(`v${i}`)])
      await d.write(s, { set, del: [] })
      const ids = ['3', '49', 'nope', '0', '50']
      const got = await d.get(s, 'pre-key', ids)
      assert.deepEqual([...got.keys()].sort(), ['0', '3', '49'])
      assert.equal(Buffer.from(got.get('49')!).toString(), 'v49')
      assert.equal((await d.get(s, 'session', ['3'])).size, 0, 'types are separate namespaces')
      assert.equal((await d.get(s, 'pre-key', [])).size, 0)
    })

    it('overwrites and deletes; a deleted key is gone from the backend', async () => {
      const s = sid('del')
      await d.write(s, { set: [['session', 'a', bytes('1')], ['session', 'b', bytes('2')]], del: [] })
      await d.write(s, { set: [['session', 'a', bytes('3')]], del: [['session', 'b'], ['session', 'never-existed']] })
      assert.equal(Buffer.from((await h.raw.key(s, 'session', 'a'))!).toString(), '3')
      assert.equal(await h.raw.key(s, 'session', 'b'), undefined)
      assert.deepEqual([...(await d.get(s, 'session', ['a', 'b'])).keys()], ['a'])
      assert.equal(await h.raw.countKeys(s), 1)
    })

    it('creds can be replaced without touching keys, and keys written without creds', async () => {
      const s = sid('creds')
      await d.write(s, { set: [['pre-key', '1', bytes('k')]], del: [] })
      assert.equal(await d.getCreds(s), undefined)
      assert.ok((await collect(d.sessions())).includes(s), 'a session with only keys is listed')
      await d.write(s, { creds: bytes('c1'), set: [], del: [] })
      await d.write(s, { creds: bytes('c2'), set: [], del: [] })
      assert.equal(Buffer.from((await d.getCreds(s))!).toString(), 'c2')
      assert.equal(await h.raw.countKeys(s), 1)
    })

    it('keeps ids with path separators, traversal, punctuation and unicode exact and separate', async () => {
      const s = sid('ids')
      await d.write(s, { set: TRICKY_IDS.map((id, i) => ['session', id, bytes(`v${i}`)] as [string, string, Uint8Array]), del: [] })
      const got = await d.get(s, 'session', TRICKY_IDS)
      assert.equal(got.size, TRICKY_IDS.length)
      TRICKY_IDS.forEach((id, i) => assert.equal(Buffer.from(got.get(id)!).toString(), `v${i}`, id))
      for (const [i, id] of TRICKY_IDS.entries()) assert.equal(Buffer.from((await h.raw.key(s, 'session', id))!).toString(), `v${i}`)
      const listed = (await collect(d.list(s, 'session'))).map(([, id]) => id)
      assert.deepEqual([...listed].sort(), [...TRICKY_IDS].sort())
    })

    it('keeps sessions apart; dropping one leaves the others whole', async () => {
      const a = sid('a')
      const b = sid('b')
      await d.write(a, { creds: bytes('ca'), set: [['pre-key', '1', bytes('a1')]], del: [] })
      await d.write(b, { creds: bytes('cb'), set: [['pre-key', '1', bytes('b1')]], del: [] })
      assert.equal(Buffer.from((await d.get(a, 'pre-key', ['1'])).get('1')!).toString(), 'a1')
      assert.equal(Buffer.from((await d.get(b, 'pre-key', ['1'])).get('1')!).toString(), 'b1')
      await d.drop(a)
      assert.equal(await d.getCreds(a), undefined)
      assert.equal(await h.raw.creds(a), undefined)
      assert.equal(await h.raw.countKeys(a), 0)
      assert.equal(Buffer.from((await h.raw.creds(b))!).toString(), 'cb')
      assert.equal(await h.raw.countKeys(b), 1)
      const sessions = await collect(d.sessions())
      assert.ok(!sessions.includes(a) && sessions.includes(b))
    })

    it('lists every key in a stable order, by type, with values when asked, past one page', async () => {
      const s = sid('list')
      const set: Array<[string, string, Uint8Array]> = []
      for (let i = 0; i < 1234; i++) set.push(['pre-key', String(i), bytes(`p${i}`)])
      set.push(['session', 'z', bytes('sz')], ['app-state-sync-key', 'AAAA', bytes('ak')])
      await d.write(s, { set, del: [] })
      const all = await collect(d.list(s))
      assert.equal(all.length, 1236)
      assert.equal(new Set(all.map(([t, id]) => `${t}/${id}`)).size, 1236, 'no duplicates across pages')
      const again = await collect(d.list(s))
      assert.deepEqual(again, all, 'order is stable')
      const preKeys = await collect(d.list(s, 'pre-key', { values: true }))
      assert.equal(preKeys.length, 1234)
      for (const [t, id, v] of preKeys) {
        assert.equal(t, 'pre-key')
        assert.equal(Buffer.from(v!).toString(), `p${id}`)
      }
      assert.deepEqual(await collect(d.list(s, 'session')), [['session', 'z']])
    })

    it('stores binary values of every byte and of large size unchanged', async () => {
      const s = sid('bin')
      const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
      const large = Buffer.alloc(1024 * 1024)
      for (let i = 0; i < large.length; i++) large[i] = (i * 7919) & 0xff
      await d.write(s, { set: [['sender-key', 'every', every], ['sender-key', 'large', large], ['sender-key', 'one', Buffer.from([0])]], del: [] })
      const got = await d.get(s, 'sender-key', ['every', 'large', 'one'])
      assert.deepEqual(Buffer.from(got.get('every')!), every)
      assert.deepEqual(Buffer.from(got.get('large')!), large)
      assert.deepEqual(Buffer.from(got.get('one')!), Buffer.from([0]))
    })

    it('lands concurrent writes to different sessions and keys', async () => {
      const sessions = Array.from({ length: 8 }, (_, i) => sid(`c${i}`))
      await Promise.all(
        sessions.flatMap(s => Array.from({ length: 10 }, (_, k) => d.write(s, { set: [['pre-key', String(k), bytes(`${s}:${k}`)]], del: [] })))
      )
      for (const s of sessions) {
        assert.equal(await h.raw.countKeys(s), 10)
        assert.equal(Buffer.from((await d.get(s, 'pre-key', ['7'])).get('7')!).toString(), `${s}:7`)
      }
    })

    it('a reopened driver sees everything written before close', async () => {
      const s = sid('reopen')
      await d.write(s, { creds: bytes('persisted'), set: [['session', 'x', bytes('y')]], del: [] })
      await d.close()
      d = await h.open()
      assert.equal(Buffer.from((await d.getCreds(s))!).toString(), 'persisted')
      assert.equal(Buffer.from((await d.get(s, 'session', ['x'])).get('x')!).toString(), 'y')
    })

    it('declares its snapshot capability truthfully; a snapshot sees one point in time', async () => {
      assert.equal(!!d.capabilities.snapshot && typeof d.snapshot === 'function', h.snapshot)
      if (!d.snapshot || !h.snapshot) return
      const s = sid('snap')
      await d.write(s, { set: [['pre-key', '1', bytes('before')]], del: [] })
      const seen = await d.snapshot(async reader => {
        await d.write(s, { set: [['pre-key', '1', bytes('after')], ['pre-key', '2', bytes('new')]], del: [] })
        const got = await reader.get(s, 'pre-key', ['1', '2'])
        return [...got].map(([id, v]) => `${id}=${Buffer.from(v).toString()}`)
      })
      assert.deepEqual(seen, ['1=before'])
      assert.equal(Buffer.from((await d.get(s, 'pre-key', ['1'])).get('1')!).toString(), 'after')
    })
  })
}
