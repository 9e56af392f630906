import Database from 'better-sqlite3'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import type { WriteBatch } from '../../src/core/driver.js'
import { VaultError } from '../../src/core/errors.js'
import { GroupCommit, type GroupedBatch } from '../../src/drivers/group-commit.js'
import { DurabilityBarrier } from '../../src/drivers/wal-sync.js'
import { openStore } from '../../src/open-store.js'
import { crashSuite } from '../helpers/crash-suite.js'
import { assertEachSessionInOrder, fireManyWriters } from '../helpers/many-writers.js'

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
        groups.push(group.map(g => `${g.session}/${g.batch.set[0]?.[1]}`))
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

  it("a joinNext batch starts no group: it shares the next write's (a record and the keys of its send), or goes alone after joinWithinMs", async () => {
    const groups: string[][] = []
    const queue = new GroupCommit({
      joinWithinMs: 50,
      applyGroup: async group => {
        groups.push(group.map(g => String(g.batch.set[0]?.[1])))
        return group.map(() => undefined)
      }
    })
    // Control: a plain batch starts its own group at the next turn.
    const plain = queue.write('s1', batch('plain'))
    await turn()
    await turn()
    const keys0 = queue.write('s1', batch('keys0'))
    await Promise.all([plain, keys0])
    assert.deepEqual(groups, [['plain'], ['keys0']])

    groups.length = 0
    const record = queue.write('s1', { ...batch('record'), joinNext: true })
    await turn()
    await turn()
    assert.deepEqual(groups, [], 'the record waits for a write to carry it')
    const keys = queue.write('s1', batch('keys'))
    await Promise.all([record, keys])
    assert.deepEqual(groups, [['record', 'keys']], 'one group, the record first')

    groups.length = 0
    await queue.write('s2', { ...batch('alone'), joinNext: true })
    assert.deepEqual(groups, [['alone']], 'with no write after it, it goes alone (after joinWithinMs)')
    await queue.drain()
  })

  it('joinUntil: a joinNext batch stops waiting once its send ended, long before joinWithinMs; a group that took it is not started again', async () => {
    const groups: string[][] = []
    const queue = new GroupCommit({
      joinWithinMs: 60_000,
      applyGroup: async group => {
        groups.push(group.map(g => g.batch.set[0]?.[1] ?? assert.fail('a batch of one write')))
        return group.map(() => undefined)
      }
    })
    let end!: () => void
    const ended = new Promise<void>(resolve => (end = resolve))
    const record = queue.write('s1', { ...batch('record'), joinNext: true, joinUntil: ended })
    // Control: without the end, it keeps waiting (joinWithinMs is a minute).
    const waiting = queue.write('s2', { ...batch('waiting'), joinNext: true })
    await turn()
    await turn()
    assert.deepEqual(groups, [], 'both wait for a write to carry them')
    end()
    await record
    assert.deepEqual(groups, [['record', 'waiting']], 'the send ended: its record goes now, with whatever waited')

    // Ridden first, then the send ends: no second group.
    groups.length = 0
    let end2!: () => void
    const ended2 = new Promise<void>(resolve => (end2 = resolve))
    const record2 = queue.write('s1', { ...batch('record2'), joinNext: true, joinUntil: ended2 })
    await Promise.all([record2, queue.write('s1', batch('keys2'))])
    end2()
    await turn()
    await turn()
    assert.deepEqual(groups, [['record2', 'keys2']])
    await Promise.all([waiting, queue.drain()])
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

describe('DurabilityBarrier (commit at once, share the flush)', () => {
  /** A sync the test finishes by hand, counting how many started. */
  function heldSyncs() {
    const started: Array<{ finish(): void; fail(err: Error): void }> = []
    const sync = () => new Promise<void>((finish, fail) => started.push({ finish, fail }))
    return { started, sync }
  }
  const failure = (cause: unknown) => new VaultError('BACKEND_UNAVAILABLE', `flush failed: ${(cause as Error).message}`)

  it('a commit waits for a sync that started after it; commits made while one runs share the next', async () => {
    const { started, sync } = heldSyncs()
    const barrier = new DurabilityBarrier({ sync, failure })
    const settled: string[] = []
    const first = barrier.wait().then(() => settled.push('first'))
    assert.equal(started.length, 1, 'an idle barrier starts its sync at once')
    const joined = [barrier.wait(), barrier.wait()].map((p, i) => p.then(() => settled.push(`joined${i}`)))
    await turn()
    assert.equal(started.length, 1, 'no second sync while one runs')
    started[0]?.finish()
    await first
    await turn()
    assert.deepEqual(settled, ['first'], 'commits made during the first sync are not covered by it')
    assert.equal(started.length, 2, 'their sync starts when the first ends')
    started[1]?.finish()
    await Promise.all(joined)
    assert.deepEqual(settled, ['first', 'joined0', 'joined1'])
    await barrier.idle()
  })

  it("joinNext: a commit on an idle barrier starts no flush; the next commit's flush covers it, or its own after joinWithinMs", async () => {
    let inline = 0
    const { started, sync } = heldSyncs()
    const barrier = new DurabilityBarrier({ sync, syncNow: () => void inline++, joinWithinMs: 50, failure })
    let recorded = false
    const record = barrier.wait({ joinNext: true }).then(() => (recorded = true))
    await turn()
    await turn()
    assert.deepEqual([inline, started.length, recorded], [0, 0, false], 'the record waits for company')
    const keys = barrier.wait()
    await Promise.all([record, keys])
    // A record and the keys of its send are one send's work, not company: flushed inline, as the keys alone would be.
    assert.deepEqual([inline, started.length], [1, 0], 'the keys commit flushes both at once, inline')
    await barrier.idle()

    // Control: another commit in the same turn is company, and the three share one flush off the loop.
    const record2 = barrier.wait({ joinNext: true })
    const together = [barrier.wait(), barrier.wait()]
    await turn()
    assert.deepEqual([inline, started.length], [1, 1], 'with company: one shared flush off the loop')
    started[0]?.finish()
    await Promise.all([record2, ...together])
    await barrier.idle()

    let flushes = 0
    const lone = new DurabilityBarrier({ sync: async () => void flushes++, syncNow: () => void flushes++, joinWithinMs: 50, failure })
    await lone.wait({ joinNext: true })
    assert.equal(flushes, 1, 'alone: flushed once joinWithinMs passed')
    await lone.idle()
  })

  it('joinUntil on the WAL barrier: a joinNext commit is flushed once its send ended, not after joinWithinMs', async () => {
    let flushes = 0
    const barrier = new DurabilityBarrier({ sync: async () => void flushes++, syncNow: () => void flushes++, joinWithinMs: 60_000, failure })
    let end!: () => void
    const ended = new Promise<void>(resolve => (end = resolve))
    const record = barrier.wait({ joinNext: true, until: ended })
    await turn()
    await turn()
    assert.equal(flushes, 0, 'it waits for company while the send runs')
    end()
    await record
    assert.equal(flushes, 1, 'flushed once the send ended')
    await barrier.idle()
  })

  it('adaptive: a commit without company a turn later is flushed inline; commits that come together share one flush off the loop', async () => {
    const { started, sync } = heldSyncs()
    let inline = 0
    const barrier = new DurabilityBarrier({ sync, syncNow: () => void inline++, failure })
    const alone = barrier.wait()
    assert.equal(inline + started.length, 0, 'no flush before the turn ends: others may still commit')
    await alone
    assert.deepEqual([inline, started.length], [1, 0], 'alone: flushed inline, before the write resolved')
    let settled = 0
    const together = [barrier.wait(), barrier.wait()].map(p => p.then(() => settled++))
    await turn()
    assert.deepEqual([inline, started.length, settled], [1, 1, 0], 'together: one shared flush, off the loop, not done yet')
    const during = barrier.wait().then(() => settled++)
    started[0]?.finish()
    await Promise.all(together)
    await turn()
    assert.deepEqual([inline, started.length, settled], [1, 2, 2], 'a commit made during a shared flush joins the next shared one')
    started[1]?.finish()
    await during
    await barrier.idle()
  })

  it('adaptive: after a flush with company the next idle commit starts its shared flush at once; after a lone one it looks a turn ahead again', async () => {
    const { started, sync } = heldSyncs()
    let inline = 0
    const barrier = new DurabilityBarrier({ sync, syncNow: () => void inline++, failure })
    const together = [barrier.wait(), barrier.wait()]
    await turn()
    started[0]?.finish()
    await Promise.all(together)
    await barrier.idle()
    // Many sessions at work: the flush overlaps the event loop's work instead of waiting for it.
    const next = barrier.wait()
    assert.deepEqual([inline, started.length], [0, 2], 'after company: the shared flush starts in the call, no turn first')
    started[1]?.finish()
    await next
    await barrier.idle()
    // That flush covered one commit and none came meanwhile: a lone bot again.
    const alone = barrier.wait()
    assert.equal(started.length, 2, 'after a lone flush: no flush before the turn ends')
    await alone
    assert.deepEqual([inline, started.length], [1, 2], 'alone: flushed inline')
    await barrier.idle()
  })

  it('adaptive: once inline flushes stay slow a lone commit is flushed off the loop; one slow flush does not do it, and one fast probe ends it', async () => {
    let inline = 0
    let shared = 0
    let flushMs = 3
    const timed = () => {
      inline++
      const until = performance.now() + flushMs
      while (performance.now() < until); // a flush that takes flushMs
    }
    const barrier = new DurabilityBarrier({ sync: async () => void shared++, syncNow: timed, inlineBelowMs: 0.2, failure })
    await barrier.wait()
    await barrier.wait()
    await barrier.wait()
    assert.deepEqual([inline, shared], [3, 0], 'three slow flushes of the last 8: still inline')
    await barrier.wait()
    await barrier.wait()
    assert.deepEqual([inline, shared], [4, 1], 'four, the last one slow: off the loop')
    flushMs = 0
    for (let n = 0; n < 7; n++) await barrier.wait()
    assert.deepEqual([inline, shared], [5, 7], 'while slow, every 8th lone commit probes the disk inline')
    await barrier.wait()
    assert.deepEqual([inline, shared], [6, 7], 'the probe was fast: inline again')
    await barrier.idle()
  })

  it('claimAlone: a commit with no company carries its own flush; a flush due or running, company at the last flush, or a failure is company; every 64th looks a turn ahead', async () => {
    const { started, sync } = heldSyncs()
    const barrier = new DurabilityBarrier({ sync, syncNow: () => undefined, failure })
    assert.equal(barrier.claimAlone(), true, 'idle: the commit flushes itself')
    assert.equal(barrier.claimAlone(), false, "another chain's commit before the claimed one's caller went on: company")
    await Promise.resolve()
    barrier.flushedAlone(0.1)
    const together = [barrier.wait(), barrier.wait()]
    assert.equal(barrier.claimAlone(), false, 'a flush is due')
    await turn()
    assert.equal(started.length, 1, 'the two commits share a flush off the loop')
    assert.equal(barrier.claimAlone(), false, 'a flush runs')
    started[0]?.finish()
    await Promise.all(together)
    assert.equal(barrier.claimAlone(), false, 'the last flush had company')
    const next = barrier.wait()
    started[1]?.finish()
    await next
    await barrier.idle()
    let claimed = 0
    for (let n = 0; n < 128; n++) {
      if (barrier.claimAlone()) claimed++
      await Promise.resolve() // the claimed commit's caller goes on
    }
    assert.equal(claimed, 126, 'the 64th and the 128th offered commits look a turn ahead instead')
    assert.equal(new DurabilityBarrier({ sync, failure }).claimAlone(), false, 'without an inline flush (an injected one): never')
    const error = barrier.failedAlone(Object.assign(new Error('EIO (injected)'), { code: 'EIO' }))
    assert.equal(error.message, 'flush failed: EIO (injected)')
    assert.equal(barrier.claimAlone(), false, 'failed: final')
    await assert.rejects(barrier.wait(), (err: VaultError) => err === error)
  })

  it("claimAlone: a send's record waiting for its keys is no company; the claimed keys commit settles it, or fails it with its own flush", async () => {
    const { started, sync } = heldSyncs()
    const barrier = new DurabilityBarrier({ sync, syncNow: () => undefined, joinWithinMs: 60_000, failure })
    let recorded = false
    const record = barrier.wait({ joinNext: true }).then(() => (recorded = true))
    assert.equal(barrier.claimAlone(), true, 'the keys after a record: alone')
    await turn()
    assert.equal(recorded, false, 'the record waits for the keys commit')
    barrier.flushedAlone(0.1)
    await record
    assert.equal(started.length, 0, 'no flush of its own')
    await barrier.idle()

    // Control: another session's commit waiting too is company.
    const other = barrier.wait({ joinNext: true })
    const company = barrier.wait()
    assert.equal(barrier.claimAlone(), false, 'a flush is due for a commit of another session: company')
    await turn()
    started[0]?.finish()
    await Promise.all([other, company])
    await barrier.idle()

    const failing = new DurabilityBarrier({ sync, syncNow: () => undefined, joinWithinMs: 60_000, failure })
    const lost = failing.wait({ joinNext: true })
    assert.equal(failing.claimAlone(), true)
    const error = failing.failedAlone(new Error('EIO (injected)'))
    await assert.rejects(lost, (err: VaultError) => err === error)
  })

  it('claimAlone: a commit that looks ahead and finds other sessions committing turns the barrier to shared flushes', async () => {
    const { started, sync } = heldSyncs()
    const barrier = new DurabilityBarrier({ sync, syncNow: () => undefined, failure })
    let claimed = 0
    while (barrier.claimAlone()) {
      claimed++
      await Promise.resolve()
    }
    assert.equal(claimed, 63, '63 lone commits flushed themselves')
    // The 64th looks a turn ahead; three other sessions commit in that turn.
    const group = [barrier.wait(), barrier.wait(), barrier.wait(), barrier.wait()]
    await turn()
    assert.equal(started.length, 1, 'one shared flush for the four')
    started[0]?.finish()
    await Promise.all(group)
    assert.equal(barrier.claimAlone(), false, 'commits came together: shared flushes from now on')
    const later = barrier.wait()
    assert.equal(started.length, 2, 'the next flush starts at once, shared')
    started[1]?.finish()
    await later
    await barrier.idle()
  })

  it('adaptive: a failed inline flush rejects its write and refuses every later wait', async () => {
    const barrier = new DurabilityBarrier({
      sync: () => Promise.resolve(),
      syncNow: () => {
        throw Object.assign(new Error('EIO (injected)'), { code: 'EIO' })
      },
      failure
    })
    await assert.rejects(barrier.wait(), (err: VaultError) => err.code === 'BACKEND_UNAVAILABLE')
    await assert.rejects(barrier.wait(), (err: VaultError) => err.code === 'BACKEND_UNAVAILABLE')
    await barrier.idle()
  })

  it('a failed sync rejects exactly its waiters and those of the next, then refuses every later wait', async () => {
    const { started, sync } = heldSyncs()
    const barrier = new DurabilityBarrier({ sync, failure })
    const done = barrier.wait()
    started[0]?.finish()
    await done
    const failing = barrier.wait()
    const later = barrier.wait() // made during the failing sync: its own sync would prove nothing
    started[1]?.fail(Object.assign(new Error('EIO (injected)'), { code: 'EIO' }))
    for (const p of [failing, later]) await assert.rejects(p, (err: VaultError) => err.code === 'BACKEND_UNAVAILABLE')
    assert.equal((barrier.failed as VaultError | undefined)?.code, 'BACKEND_UNAVAILABLE')
    await assert.rejects(barrier.wait(), (err: VaultError) => err.code === 'BACKEND_UNAVAILABLE')
    assert.equal(started.length, 2, 'no sync after a failure')
  })
})

describe('sqlite group commit (durable commits sharing their flush)', () => {
  const SESSIONS = 8

  /** A store on a user-owned connection (the test sets pragmas and triggers on it). */
  async function open(sqlite: { walSync?: () => Promise<void> } = {}) {
    const path = tempDb()
    const database = new Database(path)
    const store = await openStore(`sqlite:${path}`, { sqlite: { database, groupCommit: true, ...sqlite } })
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
    const other = await openStore(`sqlite:${path}`)
    try {
      return (await other.readKeys(session, 'session', [id])).get(id)
    } finally {
      await other.close()
    }
  }

  it('runs synchronous=NORMAL and flushes the WAL itself; the default, :memory: and durability normal keep their pragmas', async () => {
    const pragmaWith = async (path: string, sqlite: { groupCommit?: boolean; durability?: 'normal' }) => {
      const database = new Database(path)
      const store = await openStore(`sqlite:${path}`, { sqlite: { database, ...sqlite } })
      const synchronous = database.pragma('synchronous', { simple: true })
      await store.close()
      database.close()
      return synchronous
    }
    assert.equal(await pragmaWith(tempDb(), { groupCommit: true }), 1, 'NORMAL: the barrier makes commits durable')
    assert.equal(await pragmaWith(tempDb(), {}), 2, 'FULL by default')
    assert.equal(await pragmaWith(':memory:', { groupCommit: true }), 2, 'FULL: no WAL file to flush')
    assert.equal(await pragmaWith(tempDb(), { groupCommit: true, durability: 'normal' }), 1, 'NORMAL, no flush')
  })

  it('is the default on a database file the driver opens itself; groupCommit: false leaves each fsync to SQLite', async () => {
    const flushesWith = async (sqlite: { groupCommit?: boolean }) => {
      let flushes = 0
      const walSync = async () => void flushes++
      const store = await openStore(`sqlite:${tempDb()}`, { sqlite: { walSync, ...sqlite } })
      await (await store.useAuthState('s')).saveCreds()
      await store.close()
      return flushes
    }
    assert.ok((await flushesWith({})) > 0, 'the shared flush by default')
    assert.equal(await flushesWith({ groupCommit: false }), 0, 'synchronous=FULL: no flush of its own')
  })

  it('a write resolves only after the flush that started after its commit; the commit itself is made at once', async () => {
    let holding = false
    const held: Array<() => void> = []
    const walSync = () => (holding ? new Promise<void>(resolve => held.push(resolve)) : Promise.resolve())
    const { path, database, store, auths } = await open({ walSync })
    holding = true // the setup's writes passed; from here on the test finishes every flush by hand
    try {
      let resolved = 0
      const writes = auths.map(a => a.state.keys.set({ session: { 'peer.0': { v: 'after' } as any } }).then(() => resolved++))
      await turn()
      assert.equal(resolved, 0, 'no write resolves before its flush finished')
      for (let i = 0; i < SESSIONS; i++) assert.deepEqual(await inDatabase(path, `s${i}`), { v: 'after' }, 'committed at once: another connection sees it')
      assert.equal(held.length, 1, 'one flush in flight; the writes made during it wait for the next')
      held[0]?.()
      await turn()
      assert.equal(resolved, 1, 'the first flush covers the first commit only; the others were made during it')
      assert.equal(held.length, 2)
      held[1]?.()
      await Promise.all(writes)
      assert.equal(held.length, 2, 'two flushes for all eight commits')
    } finally {
      holding = false
      for (const finish of held) finish()
      await store.close()
      database.close()
    }
  })

  it("a session's next write commits while the previous one is still flushing, and a read of that key sees the commit at once", async () => {
    let holding = false
    const held: Array<() => void> = []
    const walSync = () => (holding ? new Promise<void>(resolve => held.push(resolve)) : Promise.resolve())
    const { path, database, store, auths } = await open({ walSync })
    holding = true
    try {
      const [auth] = auths
      assert.ok(auth)
      let settled = 0
      const first = auth.state.keys.set({ session: { 'peer.0': { v: 'one' } as any } }).then(() => settled++)
      await turn()
      const second = auth.state.keys.set({ session: { 'peer.0': { v: 'two' } as any } }).then(() => settled++)
      await turn()
      assert.equal(settled, 0, 'neither write resolved: their flushes are held')
      assert.deepEqual(await inDatabase(path, 's0'), { v: 'two' }, 'the second write did not wait for the first one to be durable')
      const read = await Promise.race([auth.state.keys.get('session', ['peer.0']), turn().then(() => 'waited')])
      assert.deepEqual(read, { 'peer.0': { v: 'two' } }, 'the read asked the database instead of waiting for the flush')
      for (const finish of held) finish()
      await turn()
      for (const finish of held) finish()
      await Promise.all([first, second])
      assert.deepEqual(await auth.state.keys.get('session', ['peer.0']), { 'peer.0': { v: 'two' } }, 'the cache ends on the last write')
    } finally {
      holding = false
      for (const finish of held) finish()
      await store.close()
      database.close()
    }
  })

  it('a failed flush fails exactly the writes waiting on it with BACKEND_UNAVAILABLE, refuses later writes, and the cache agrees with the database; a reopened store writes again', async () => {
    let fault: Error | undefined
    const { path, database, store, auths } = await open({ walSync: async () => void (fault && (await Promise.reject(fault))) })
    try {
      assert.ok(auths[0])
      await auths[0].state.keys.set({ session: { 'peer.0': { v: 'saved' } as any } })
      fault = Object.assign(new Error('EIO: i/o error, fdatasync (injected)'), { code: 'EIO' })
      const results = await Promise.allSettled(auths.slice(1).map(a => a.state.keys.set({ session: { 'peer.0': { v: 'unsynced' } as any } })))
      for (const r of results) {
        assert.equal(r.status, 'rejected')
        assert.ok(r.reason instanceof VaultError && r.reason.code === 'BACKEND_UNAVAILABLE', String(r.reason))
        assert.match(r.reason.message, /EIO.*reopen the store/s)
      }
      // Refused before committing anything: the database keeps the earlier value.
      await assert.rejects(auths[0].state.keys.set({ session: { 'peer.0': { v: 'refused' } as any } }), (err: VaultError) => err.code === 'BACKEND_UNAVAILABLE')
      assert.deepEqual(await inDatabase(path, 's0'), { v: 'saved' })
      for (const [i, a] of auths.entries()) {
        // The failed writes' commits were made (their durability is unknown): the cache forgot
        // those keys, so the auth state reads what the database holds.
        assert.deepEqual(await a.state.keys.get('session', ['peer.0']), { 'peer.0': await inDatabase(path, `s${i}`) }, `cache of s${i}`)
      }
    } finally {
      await store.close()
    }
    const reopened = await openStore(`sqlite:${path}`, { sqlite: { database } })
    try {
      const { state } = await reopened.useAuthState('s0')
      await state.keys.set({ session: { 'peer.0': { v: 'again' } as any } })
      assert.deepEqual(await inDatabase(path, 's0'), { v: 'again' })
    } finally {
      await reopened.close()
      database.close()
    }
  })

  it('a write that hits disk full fails with BACKEND_UNAVAILABLE alone; cache and database agree; writes succeed once the fault clears', async () => {
    const { path, database, store, auths } = await open()
    try {
      // Real SQLITE_FULL: the database may grow by 3 pages; the first writes fit, the later ones
      // do not. Each write is its own transaction: a failed one rolls back alone.
      const pages = database.pragma('page_count', { simple: true }) as number
      database.pragma(`max_page_count = ${pages + 3}`)
      const big = (i: number) => ({ v: 'after', pad: Buffer.alloc(3000, i) }) as any
      const results = await Promise.allSettled(auths.map((a, i) => a.state.keys.set({ session: { 'peer.0': big(i) } })))
      assert.ok(
        results.some(r => r.status === 'rejected'),
        'some writes hit the limit'
      )
      for (const [i, r] of results.entries()) {
        const expected = r.status === 'fulfilled' ? 'after' : 'before'
        if (r.status === 'rejected') {
          assert.ok(r.reason instanceof VaultError && r.reason.code === 'BACKEND_UNAVAILABLE', String(r.reason))
          assert.match(r.reason.message, /full/)
        }
        assert.equal(((await auths[i]?.state.keys.get('session', ['peer.0']))?.['peer.0'] as any)?.v, expected, `cache of s${i}`)
        assert.equal((await inDatabase(path, `s${i}`))?.v, expected, `database of s${i}`)
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

  it('under many concurrent writers, no session ever sees its writes applied out of order', async () => {
    const path = tempDb()
    const database = new Database(path)
    const store = await openStore(`sqlite:${path}`, { sqlite: { database, groupCommit: true } })
    try {
      // The database itself logs the order in which it applied each key write.
      database.exec(`CREATE TABLE applied (seq INTEGER PRIMARY KEY AUTOINCREMENT, session TEXT, id TEXT);
        CREATE TRIGGER log_insert AFTER INSERT ON vault_keys BEGIN INSERT INTO applied (session, id) VALUES (NEW.session, NEW.id); END;
        CREATE TRIGGER log_update AFTER UPDATE ON vault_keys BEGIN INSERT INTO applied (session, id) VALUES (NEW.session, NEW.id); END;`)
      await fireManyWriters(store)
      const log = database.prepare(`SELECT session, id FROM applied WHERE id LIKE 'write%' ORDER BY seq`).all() as Array<{ session: string; id: string }>
      await assertEachSessionInOrder(
        session => log.filter(r => r.session === session).map(r => Number(r.id.slice(5, -2))),
        session => inDatabase(path, session, 'counter.0')
      )
    } finally {
      await store.close()
      database.close()
    }
  })
})

// The gateway pattern: many conversations writing at once, so flushes are shared and in flight when the SIGKILL lands.
crashSuite('sqlite, gateway pattern (shared flushes in flight)', async () => ({ url: `sqlite:${tempDb()}` }), Number(process.env.VAULT_CRASH_KILLS ?? 10), {
  pairs: 6
})
