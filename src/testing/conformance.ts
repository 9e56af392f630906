import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { hostname } from 'node:os'
import { describe, it, before, after } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { initAuthCreds } from '../core/baileys.js'
import type { Driver, LeaseCapability } from '../core/driver.js'
import { isVaultError } from '../core/errors.js'
import { leaseOwner } from '../drivers/shared-lease.js'
import { AuthStore } from '../auth/auth-store.js'
import { plainCodec } from '../store/value-codec.js'

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
  /** Whether the driver offers leases (checked either way); default true. */
  lease?: boolean
  /** Removes the backend's data after the suite. */
  cleanup?(): Promise<void>
}

const bytes = (text: string) => Buffer.from(text, 'utf8')
/** Polls `fn` until it returns a value (not undefined); fails after `timeoutMs`. */
export async function until<T>(fn: () => Promise<T | undefined>, timeoutMs = 15_000, everyMs = 50): Promise<T> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const value = await fn()
    if (value !== undefined) return value
    if (performance.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await sleep(everyMs)
  }
}

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
      await d.write(s, {
        creds: bytes('{"creds":1}'),
        set: [
          ['pre-key', '1', value],
          ['session', '15550000001.0', bytes('{"s":1}')]
        ],
        del: []
      })
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
      await d.write(s, {
        set: [
          ['session', 'a', bytes('1')],
          ['session', 'b', bytes('2')]
        ],
        del: []
      })
      await d.write(s, {
        set: [['session', 'a', bytes('3')]],
        del: [
          ['session', 'b'],
          ['session', 'never-existed']
        ]
      })
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
      await d.write(s, {
        set: [
          ['sender-key', 'every', every],
          ['sender-key', 'large', large],
          ['sender-key', 'one', Buffer.from([0])]
        ],
        del: []
      })
      const got = await d.get(s, 'sender-key', ['every', 'large', 'one'])
      assert.deepEqual(Buffer.from(got.get('every')!), every)
      assert.deepEqual(Buffer.from(got.get('large')!), large)
      assert.deepEqual(Buffer.from(got.get('one')!), Buffer.from([0]))
    })

    it('lands concurrent writes to different sessions and keys', async () => {
      const sessions = Array.from({ length: 8 }, (_, i) => sid(`c${i}`))
      await Promise.all(sessions.flatMap(s => Array.from({ length: 10 }, (_, k) => d.write(s, { set: [['pre-key', String(k), bytes(`${s}:${k}`)]], del: [] }))))
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

    it('keys.get with ids that are not strings is INVALID_ARGUMENT at the store layer, whatever the driver', async () => {
      const s = sid('ids')
      // Not closed: closing the store would close the suite's driver.
      const store = new AuthStore(d, plainCodec(!!d.capabilities.bareJson), `${d.kind}:conformance`, { readOnly: false })
      await store.write(s, { creds: initAuthCreds(), set: [['pre-key', '5', { keyId: 5 }]] })
      const { state } = await store.useAuthState(s)
      const invalid = (e: unknown) => isVaultError(e, 'INVALID_ARGUMENT') && /Key id/.test(e.message)
      for (const ids of [[5], [null], [{}], ['5', 5], [['5']]])
        await assert.rejects(state.keys.get('pre-key', ids as unknown as string[]), invalid, JSON.stringify(ids))
      await assert.rejects(store.readRaw(s, 'pre-key', '5' as unknown as string[]), (e: unknown) => isVaultError(e, 'INVALID_ARGUMENT'))
      assert.deepEqual(await state.keys.get('pre-key', ['5']), { '5': { keyId: 5 } })
    })

    it('declares its snapshot capability truthfully; a snapshot sees one point in time', async () => {
      assert.equal(!!d.capabilities.snapshot && typeof d.snapshot === 'function', h.snapshot)
      if (!d.snapshot || !h.snapshot) return
      const s = sid('snap')
      await d.write(s, { set: [['pre-key', '1', bytes('before')]], del: [] })
      const seen = await d.snapshot(async reader => {
        await d.write(s, {
          set: [
            ['pre-key', '1', bytes('after')],
            ['pre-key', '2', bytes('new')]
          ],
          del: []
        })
        const got = await reader.get(s, 'pre-key', ['1', '2'])
        return [...got].map(([id, v]) => `${id}=${Buffer.from(v).toString()}`)
      })
      assert.deepEqual(seen, ['1=before'])
      assert.equal(Buffer.from((await d.get(s, 'pre-key', ['1'])).get('1')!).toString(), 'after')
    })

    describe('leases', () => {
      let lease: LeaseCapability
      /** Short TTLs: expiry is awaited by polling, never by comparing clocks. */
      const ttl = (ms: number) => Math.max(ms, lease?.minTtlMs ?? 0)
      const held = (err: unknown) => isVaultError(err, 'LEASE_HELD')
      const lost = (err: unknown) => isVaultError(err, 'LEASE_LOST')
      before(() => {
        lease = d.lease!
      })

      it('declares its lease capability truthfully', () => {
        assert.equal(!!d.lease, h.lease ?? true)
      })

      it('acquire is exclusive, names the holder, and every acquisition gets a greater epoch', async () => {
        if (!d.lease) return
        const s = sid('lease-excl')
        const a = leaseOwner()
        const b = leaseOwner()
        const first = await lease.acquire(s, { owner: a, ttlMs: ttl(30_000) })
        assert.ok(first.epoch >= 1)
        await assert.rejects(lease.acquire(s, { owner: b, ttlMs: ttl(30_000) }), err => {
          assert.ok(held(err))
          assert.match((err as Error).message, new RegExp(`host ${hostname()} pid ${process.pid}\\b`))
          return true
        })
        const again = await lease.acquire(s, { owner: a, ttlMs: ttl(30_000) })
        assert.ok(again.epoch > first.epoch, 'a re-acquisition is a new epoch')
        const info = await lease.leaseInfo(s)
        assert.equal(info?.owner, a)
        assert.equal(info?.epoch, again.epoch)
        assert.ok(info!.expiresInMs > 0 && info!.expiresInMs <= ttl(30_000))
        assert.equal(info?.ownerAlive, true, 'this process holds it')
        assert.equal(await lease.leaseInfo(sid('lease-none')), undefined)
      })

      it("a stale epoch's batch fails with LEASE_LOST and none of it lands; release lets another owner in at once", async () => {
        if (!d.lease) return
        const s = sid('lease-fence')
        const a = leaseOwner()
        const b = leaseOwner()
        const la = await lease.acquire(s, { owner: a, ttlMs: ttl(30_000) })
        await d.write(s, {
          creds: bytes('c-a'),
          set: [
            ['session', 'x', bytes('1')],
            ['pre-key', '1', bytes('p')]
          ],
          del: [],
          epoch: la.epoch
        })
        await lease.release(s, { owner: a, epoch: la.epoch })
        assert.equal(await lease.leaseInfo(s), undefined)
        const stale = {
          creds: bytes('c-stale'),
          set: [
            ['session', 'x', bytes('2')],
            ['session', 'y', bytes('3')]
          ] as Array<[string, string, Uint8Array]>,
          del: [['pre-key', '1']] as Array<[string, string]>
        }
        await assert.rejects(d.write(s, { ...stale, epoch: la.epoch }), lost, 'a released epoch no longer writes')
        const lb = await lease.acquire(s, { owner: b, ttlMs: ttl(30_000) })
        assert.ok(lb.epoch > la.epoch)
        await assert.rejects(d.write(s, { ...stale, epoch: la.epoch }), lost)
        await assert.rejects(d.write(s, { set: [['session', 'z', bytes('4')]], del: [], epoch: la.epoch }), lost)
        assert.equal(Buffer.from((await h.raw.creds(s))!).toString(), 'c-a')
        assert.equal(Buffer.from((await h.raw.key(s, 'session', 'x'))!).toString(), '1')
        assert.equal(await h.raw.key(s, 'session', 'y'), undefined)
        assert.equal(await h.raw.key(s, 'session', 'z'), undefined)
        assert.equal(await h.raw.countKeys(s), 2, 'the delete did not land either')
        await assert.rejects(lease.renew(s, { owner: a, epoch: la.epoch, ttlMs: ttl(30_000) }), lost)
        await lease.release(s, { owner: a, epoch: la.epoch }) // not ours any more: a no-op
        assert.equal((await lease.leaseInfo(s))?.owner, b)
        await d.write(s, { ...stale, epoch: lb.epoch })
        assert.equal(Buffer.from((await h.raw.creds(s))!).toString(), 'c-stale')
        assert.equal(await h.raw.countKeys(s), 2)
        await d.write(s, { set: [['session', 'w', bytes('5')]], del: [] }) // unfenced writes are not checked
        await assert.rejects(d.write(s, { set: [], del: [], epoch: lb.epoch + 1 }), lost, 'a future epoch is not current either')
      })

      it("expiry comes from the backend's clock: an expired lease is taken over and its holder is fenced", async () => {
        if (!d.lease) return
        const s = sid('lease-expiry')
        const a = leaseOwner()
        const b = leaseOwner()
        const la = await lease.acquire(s, { owner: a, ttlMs: ttl(400) })
        const lb = await until(() => lease.acquire(s, { owner: b, ttlMs: ttl(30_000) }).catch(err => (held(err) ? undefined : Promise.reject(err))))
        assert.ok(lb.epoch > la.epoch)
        await assert.rejects(lease.renew(s, { owner: a, epoch: la.epoch, ttlMs: ttl(400) }), lost)
        await assert.rejects(d.write(s, { creds: bytes('zombie'), set: [], del: [], epoch: la.epoch }), lost)
        assert.equal(await h.raw.creds(s), undefined)
        const info = await lease.leaseInfo(s)
        assert.equal(info?.owner, b)
      })

      it('renew extends the lease past its first TTL; an expired lease nobody took can still be renewed', async () => {
        if (!d.lease) return
        const s = sid('lease-renew')
        const a = leaseOwner()
        const b = leaseOwner()
        const t = ttl(1500)
        const la = await lease.acquire(s, { owner: a, ttlMs: t })
        for (let i = 0; i < 6; i++) {
          await sleep(t / 5)
          await lease.renew(s, { owner: a, epoch: la.epoch, ttlMs: t })
          await assert.rejects(lease.acquire(s, { owner: b, ttlMs: t }), held)
        }
        const short = await lease.acquire(sid('lease-renew-late'), { owner: a, ttlMs: ttl(300) })
        await until(async () => ((await lease.leaseInfo(short.session))!.expiresInMs <= 0 ? true : undefined))
        await lease.renew(short.session, { owner: a, epoch: short.epoch, ttlMs: ttl(30_000) })
        await d.write(short.session, { set: [['session', 'x', bytes('1')]], del: [], epoch: short.epoch })
      })

      it('refuses a TTL below minTtlMs, an empty owner and a bad epoch with INVALID_ARGUMENT', async () => {
        if (!d.lease) return
        const s = sid('lease-bad')
        const bad = (err: unknown) => isVaultError(err, 'INVALID_ARGUMENT')
        assert.ok(lease.minTtlMs >= 200)
        await assert.rejects(lease.acquire(s, { owner: leaseOwner(), ttlMs: 10 }), bad)
        await assert.rejects(lease.acquire(s, { owner: leaseOwner(), ttlMs: lease.minTtlMs - 1 }), bad)
        await assert.rejects(lease.acquire(s, { owner: '', ttlMs: 30_000 }), bad)
        await assert.rejects(lease.acquire(s, { owner: '   ', ttlMs: 30_000 }), bad)
        await assert.rejects(lease.renew(s, { owner: leaseOwner(), epoch: 0, ttlMs: 30_000 }), bad)
        assert.equal(await lease.leaseInfo(s), undefined, 'nothing was taken')
      })

      it('reports a lease whose owner on this host no longer exists; epochs survive drop and reopen', async () => {
        if (!d.lease) return
        const s = sid('lease-dead')
        const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' })
        const dead = `${hostname()}:${child.stdout}:gone`
        const l1 = await lease.acquire(s, { owner: dead, ttlMs: ttl(30_000) })
        const info = await lease.leaseInfo(s)
        assert.equal(info?.owner, dead)
        assert.equal(info?.ownerAlive, false)
        const remote = sid('lease-remote')
        await lease.acquire(remote, { owner: 'elsewhere.example:1:x', ttlMs: ttl(30_000) })
        assert.equal((await lease.leaseInfo(remote))?.ownerAlive, undefined, 'another host: unknown')
        await d.write(s, { creds: bytes('c'), set: [], del: [], epoch: l1.epoch })
        await lease.release(s, { owner: dead, epoch: l1.epoch })
        await d.drop(s)
        await d.close()
        d = await h.open()
        lease = d.lease!
        const l2 = await lease.acquire(s, { owner: leaseOwner(), ttlMs: ttl(30_000) })
        assert.ok(l2.epoch > l1.epoch, 'the epoch never goes back')
      })
    })
  })
}
