import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import fs, { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, describe, it } from 'node:test'
import { openStore, type OpenStoreOptions } from '../../src/open-store.js'
import { POWER_CUT_CONTACT, keptShimImage, powerCut, unwatchFlushes, watchFlushes, type DiskImage } from '../helpers/durable-images.js'

/**
 * A simulated power cut for SQLite's durable default: at the instant a write resolves, the copy
 * of the database as of the last flush of its WAL is what a power cut would leave, and the write
 * must be in it. The copies are made below JavaScript, by an LD_PRELOAD shim around libc's fsync
 * and fdatasync (helpers/fsync-image.c) in a child process: it sees the flushes JavaScript makes
 * (the barrier's fdatasync, inline or on the thread pool) and those SQLite makes inside COMMIT (a
 * lone commit, with synchronous=FULL).
 */
const dirs: string[] = []
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'vault-power-'))
  dirs.push(dir)
  return dir
}
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

/**
 * The value of `session`/`peer.0` after the power cut (undefined: lost, or nothing survived at
 * all); with `sent`, undefined too unless the retry store still holds that message.
 */
async function survivor(image: DiskImage | undefined, session: string, sent?: string): Promise<unknown> {
  if (!image) return undefined
  const dir = tempDir()
  writeFileSync(join(dir, 'b.db'), image.db)
  writeFileSync(join(dir, 'b.db-wal'), image.wal)
  const store = await openStore(`sqlite:${join(dir, 'b.db')}`, { sqlite: { durability: 'normal' } })
  try {
    if (sent && !(await (await store.useMessageStore(session)).getMessage({ remoteJid: POWER_CUT_CONTACT, id: sent, fromMe: true }))) return undefined
    return (await store.readKeys(session, 'session', ['peer.0'])).get('peer.0')
  } finally {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Whether a power cut that left `image` kept `value` (and, with `sent`, that message in the retry store). */
async function kept(image: DiskImage | undefined, session: string, value: string, sent?: string): Promise<{ kept: boolean; left: string }> {
  const found = (await survivor(image, session, sent)) as { value?: string } | undefined
  return { kept: found?.value === value, left: found?.value ?? 'nothing' }
}

/** The shim (test/helpers/fsync-image.c), built once for this file. */
let shim: string | undefined
function fsyncImageShim(): string {
  if (shim) return shim
  const source = fileURLToPath(new URL('../../../test/helpers/fsync-image.c', import.meta.url))
  // Built inside the repository (build/test/helpers), where better-sqlite3's own shared object
  // is mapped too: a temporary folder may be mounted noexec, and the loader then ignores
  // LD_PRELOAD with a mere warning. Compiled under a name of its own, then renamed into place.
  const built = fileURLToPath(new URL('../helpers/fsync-image.so', import.meta.url))
  const building = `${built}.${process.pid}.tmp`
  // better-sqlite3 is compiled from source on install: a C compiler is there.
  execFileSync('cc', ['-shared', '-fPIC', '-O1', '-o', building, source, '-ldl', '-lpthread'])
  fs.renameSync(building, built)
  return (shim = built)
}

const CHILD = fileURLToPath(new URL('../helpers/power-cut-child.js', import.meta.url))
const FAILING_DISK_CHILD = fileURLToPath(new URL('../helpers/failing-disk-child.js', import.meta.url))

/** Runs `child` with `args` under the shim; returns the JSON line it printed. */
async function underShim(child: string, args: string[]): Promise<unknown> {
  const out = await new Promise<string>((resolve, reject) => {
    const proc = spawn(process.execPath, [child, ...args], { env: { ...process.env, LD_PRELOAD: fsyncImageShim() }, stdio: ['ignore', 'pipe', 'inherit'] })
    let stdout = ''
    proc.stdout.on('data', chunk => (stdout += chunk))
    proc.on('error', reject)
    proc.on('exit', code => (code === 0 ? resolve(stdout) : reject(new Error(`${child} exited with ${code}`))))
  })
  return JSON.parse(out)
}

interface JavascriptFlushes {
  inline: number
  threadPool: number
}

/**
 * power-cut-child.ts under the shim: `sessions` write `rounds` values at once, then the first one
 * `alone` values one at a time. Returns the writes a power cut at the instant each resolved would
 * lose, and the flushes JavaScript made in each phase.
 */
async function lostWrites(options: OpenStoreOptions, sessions: number, rounds: number, alone: number, sends = 0) {
  const path = join(tempDir(), 'b.db')
  const result = (await underShim(CHILD, [path, JSON.stringify(options), String(sessions), String(rounds), String(alone), String(sends)])) as {
    cuts: Array<{ n: number; session: string; value: string; sent?: string }>
    together: JavascriptFlushes
    lone: JavascriptFlushes
    sendFlushes: number
  }
  assert.equal(result.cuts.length, sessions * rounds + alone + sends, 'a cut at every write')
  const lost: string[] = []
  for (const { n, session, value, sent } of result.cuts) {
    const cut = await kept(keptShimImage(path, `cut-${n}`), session, value, sent)
    if (!cut.kept) lost.push(`${session} ${value}${sent ? ' and its record' : ''} (a power cut left ${cut.left})`)
  }
  return { lost, together: result.together, lone: result.lone, sendFlushes: result.sendFlushes }
}

/** Inline flushes allowed whatever this disk's speed (copying the image makes each flush slower here). */
const inlineAlways = { sqlite: { inlineFlushBelowMs: 1e9 } }

describe('sqlite durable default: a write survives a power cut at the instant it resolves', () => {
  it('a lone commit carries its own fsync inside COMMIT (synchronous=FULL)', async () => {
    const { lost, lone } = await lostWrites(inlineAlways, 1, 0, 40)
    assert.deepEqual(lost, [])
    // One lone commit in 64 looks a turn ahead for company instead, and is flushed inline from JavaScript.
    assert.equal(lone.threadPool, 0, 'no lone commit went to the thread pool')
    assert.ok(lone.inline <= 1, `SQLite flushed the lone commits inside COMMIT (JavaScript flushed ${lone.inline} of 40)`)
  })

  it('commits that come together share a flush off the event loop', async () => {
    const { lost, together } = await lostWrites({}, 8, 6, 0)
    assert.deepEqual(lost, [])
    assert.ok(together.threadPool > 0 && together.threadPool < 8 * 6, `flushes shared by concurrent commits (${together.threadPool} for 48 commits)`)
  })

  it('right after commits came together, the next commit flushes off the loop at once; the lone ones after it carry their own fsync', async () => {
    const { lost, together, lone } = await lostWrites(inlineAlways, 8, 2, 4)
    assert.deepEqual(lost, [])
    assert.ok(together.threadPool >= 2, 'the concurrent rounds flushed off the loop')
    assert.deepEqual(lone, { inline: 0, threadPool: 1 }, 'the first lone write took the shared flush; the three after it were flushed by SQLite')
  })

  it("a send recorded by the retry store: its record rides its keys' fsync (one flush per send), and both survive a cut at the instant the send resolves", async () => {
    const { lost, sendFlushes } = await lostWrites(inlineAlways, 1, 0, 0, 12)
    assert.deepEqual(lost, [])
    assert.equal(sendFlushes, 12, 'one flush of the WAL per send, counted below JavaScript')
  })

  it('control: the shim catches a commit that resolves with no fsync', async () => {
    const { lost } = await lostWrites({ sqlite: { durability: 'normal' } }, 1, 0, 5)
    assert.ok(lost.length > 0, 'durability normal: a power cut loses writes reported saved')
  })

  it('control: a flush that reports done before its fdatasync ran loses writes (the JavaScript shim, in this process)', async () => {
    watchFlushes()
    try {
      const path = join(tempDir(), 'b.db')
      // Injected, so no flush is inline and no commit carries its own.
      const walSync = () => {
        const fd = fs.openSync(`${path}-wal`, 'r')
        fs.fdatasync(fd, () => fs.closeSync(fd))
        return Promise.resolve()
      }
      const store = await openStore(`sqlite:${path}`, { sqlite: { walSync } })
      const cuts: Array<{ session: string; value: string; image: DiskImage | undefined }> = []
      const auths = await Promise.all(['s0', 's1', 's2', 's3'].map(s => store.useAuthState(s)))
      for (let round = 0; round < 3; round++) {
        const value = `round ${round}`
        await Promise.all(
          auths.map(({ state }, s) =>
            state.keys.set({ session: { 'peer.0': { value } as never } }).then(() => void cuts.push({ session: `s${s}`, value, image: powerCut(path) }))
          )
        )
      }
      await store.close()
      let lost = 0
      for (const { session, value, image } of cuts) if (!(await kept(image, session, value)).kept) lost++
      assert.ok(lost > 0, 'a flush that resolves early loses writes')
    } finally {
      unwatchFlushes()
    }
  })
})

interface FailingDisk {
  refused: Array<{ session: string; value: string; code?: string; message?: string }>
  walAtFirstRefusal?: number
  walAtEnd: number
  closed: string
  read: Record<string, string | undefined>
  readBack?: string
}

/**
 * failing-disk-child.ts under the shim: `sessions` write `before` rounds, then every flush of the
 * WAL fails with EIO for `after` rounds, then the store is reopened on a disk that works. Returns
 * the child's report and, per session, the value a power cut right after the last refusal left.
 */
async function onFailingDisk(options: OpenStoreOptions, sessions: number, before: number, after: number) {
  const path = join(tempDir(), 'b.db')
  const report = (await underShim(FAILING_DISK_CHILD, [path, JSON.stringify(options), String(sessions), String(before), String(after)])) as FailingDisk
  const image = keptShimImage(path, 'cut-broken') ?? assert.fail('the child kept the image of the broken disk')
  const leftByPowerCut: Record<string, unknown> = {}
  for (const session of Object.keys(report.read)) leftByPowerCut[session] = (await kept(image, session, '')).left
  return { ...report, leftByPowerCut }
}

describe('sqlite durable default: a disk whose flush fails (EIO from fsync, below JavaScript)', () => {
  /** Every write after the break was refused with BACKEND_UNAVAILABLE, and nothing was written after the first refusal. */
  function assertAllRefused(report: FailingDisk, cause: RegExp) {
    for (const r of report.refused) assert.equal(r.code, 'BACKEND_UNAVAILABLE', `${r.session} ${r.value}: ${r.code ?? 'resolved'}`)
    const first = report.refused[0]!.message!
    assert.match(first, cause, 'the error names the failed flush')
    assert.match(first, /refuses writes from now on/)
    assert.ok(!/before|after \d/.test(first), 'no value text in the error')
    assert.equal(report.walAtEnd, report.walAtFirstRefusal, 'writes after the first refusal never reached the WAL')
  }

  it('a lone commit whose fsync inside COMMIT fails: that write and every later one are refused; a power cut then keeps every write that resolved; reopened on a working disk the store holds them and writes again', async () => {
    const report = await onFailingDisk(inlineAlways, 1, 5, 4)
    assertAllRefused(report, /SQLITE_IOERR/) // SQLite's own fsync failed inside COMMIT: a claimed commit
    assert.equal(report.leftByPowerCut.s0, 'before 4', 'a power cut after the refusals keeps the last write that resolved')
    // The refused commit's frames may be in the WAL unflushed; SQLite may recover them (documented: "may or may not survive").
    assert.ok(['before 4', 'after 0'].includes(report.read.s0!), `reopened: ${report.read.s0}`)
    assert.equal(report.readBack, 'recovered', 'the reopened store writes again')
  })

  it('commits that come together, whose shared flush on the thread pool fails: all of them are refused, and every later write', async () => {
    const report = await onFailingDisk({}, 4, 4, 3)
    assertAllRefused(report, /EIO/) // the barrier's fdatasync from JavaScript failed
    for (const s of ['s0', 's1', 's2', 's3']) {
      assert.equal(report.leftByPowerCut[s], 'before 3', `${s}: a power cut after the refusals keeps the last write that resolved`)
      assert.ok(['before 3', 'after 0'].includes(report.read[s]!), `${s} reopened: ${report.read[s]}`)
    }
    assert.equal(report.readBack, 'recovered')
  })

  it('control: with durability normal no flush is made, so the broken disk goes unnoticed and a power cut loses writes that resolved', async () => {
    const report = await onFailingDisk({ sqlite: { durability: 'normal' } }, 1, 2, 2)
    assert.deepEqual(
      report.refused.map(r => r.code),
      [undefined, undefined],
      'nothing flushes, nothing fails'
    )
    assert.notEqual(report.leftByPowerCut.s0, 'after 1', 'the writes that resolved after the break are not in what a power cut leaves')
  })
})
