import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { hostname } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import type { LeaseCapability } from '../../core/driver.js'
import { isVaultError } from '../../core/errors.js'
import { leaseOwner } from '../../drivers/shared-lease.js'
import type { SuiteContext } from '../harness.js'
import { bytes, until } from '../util.js'

/** Leases: exclusive, fenced by epoch inside the write, expiring by the backend's clock. */
export function leases(ctx: SuiteContext): void {
  const { describe, it, before } = ctx.runner

  describe('leases', () => {
    let lease: LeaseCapability
    /** Short TTLs: expiry is awaited by polling, never by comparing clocks. */
    const ttl = (ms: number) => Math.max(ms, lease?.minTtlMs ?? 0)
    const held = (err: unknown) => isVaultError(err, 'LEASE_HELD')
    const lost = (err: unknown) => isVaultError(err, 'LEASE_LOST')
    before(() => {
      lease = ctx.driver().lease!
    })

    it('declares its lease capability truthfully', () => {
      const d = ctx.driver()
      const h = ctx.harness()
      assert.equal(!!d.lease, h.lease ?? true)
    })

    it('acquire is exclusive, names the holder, and every acquisition gets a greater epoch', async () => {
      const d = ctx.driver()
      if (!d.lease) return
      const s = ctx.sid('lease-excl')
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
      assert.equal(await lease.leaseInfo(ctx.sid('lease-none')), undefined)
    })

    it("a stale epoch's batch fails with LEASE_LOST and none of it lands; release lets another owner in at once", async () => {
      const d = ctx.driver()
      const h = ctx.harness()
      if (!d.lease) return
      const s = ctx.sid('lease-fence')
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
      const d = ctx.driver()
      const h = ctx.harness()
      if (!d.lease) return
      const s = ctx.sid('lease-expiry')
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
      const d = ctx.driver()
      if (!d.lease) return
      const s = ctx.sid('lease-renew')
      const a = leaseOwner()
      const b = leaseOwner()
      const t = ttl(1500)
      const la = await lease.acquire(s, { owner: a, ttlMs: t })
      for (let i = 0; i < 6; i++) {
        await sleep(t / 5)
        await lease.renew(s, { owner: a, epoch: la.epoch, ttlMs: t })
        await assert.rejects(lease.acquire(s, { owner: b, ttlMs: t }), held)
      }
      const short = await lease.acquire(ctx.sid('lease-renew-late'), { owner: a, ttlMs: ttl(300) })
      await until(async () => ((await lease.leaseInfo(short.session))!.expiresInMs <= 0 ? true : undefined))
      await lease.renew(short.session, { owner: a, epoch: short.epoch, ttlMs: ttl(30_000) })
      await d.write(short.session, { set: [['session', 'x', bytes('1')]], del: [], epoch: short.epoch })
    })

    it('refuses a TTL below minTtlMs, an empty owner and a bad epoch with INVALID_ARGUMENT', async () => {
      const d = ctx.driver()
      if (!d.lease) return
      const s = ctx.sid('lease-bad')
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
      let d = ctx.driver()
      if (!d.lease) return
      const s = ctx.sid('lease-dead')
      const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' })
      const dead = `${hostname()}:${child.stdout}:gone`
      const l1 = await lease.acquire(s, { owner: dead, ttlMs: ttl(30_000) })
      const info = await lease.leaseInfo(s)
      assert.equal(info?.owner, dead)
      assert.equal(info?.ownerAlive, false)
      const remote = ctx.sid('lease-remote')
      await lease.acquire(remote, { owner: 'elsewhere.example:1:x', ttlMs: ttl(30_000) })
      assert.equal((await lease.leaseInfo(remote))?.ownerAlive, undefined, 'another host: unknown')
      await d.write(s, { creds: bytes('c'), set: [], del: [], epoch: l1.epoch })
      await lease.release(s, { owner: dead, epoch: l1.epoch })
      await d.drop(s)
      d = await ctx.reopen()
      lease = d.lease!
      const l2 = await lease.acquire(s, { owner: leaseOwner(), ttlMs: ttl(30_000) })
      assert.ok(l2.epoch > l1.epoch, 'the epoch never goes back')
    })
  })
}
