import assert from 'node:assert/strict'
import fs, { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { openStore, type OpenStoreOptions } from '../../src/open-store.js'
import { flushes, powerCut, unwatchFlushes, watchFlushes, type DiskImage } from '../helpers/durable-images.js'

/**
 * A simulated power cut for SQLite's durable default (the fs shim of helpers/durable-images.ts):
 * at the instant a write resolves, the copy of the last WAL flush is what a power cut would
 * leave: the write must be in it.
 */
const dirs: string[] = []
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'vault-power-'))
  dirs.push(dir)
  return dir
}

before(watchFlushes)
after(() => {
  unwatchFlushes()
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

/** The value of `session`/`peer.0` after the power cut (undefined: lost, or nothing survived at all). */
async function survivor(image: DiskImage | undefined, session: string): Promise<unknown> {
  if (!image) return undefined
  const dir = tempDir()
  writeFileSync(join(dir, 'b.db'), image.db)
  writeFileSync(join(dir, 'b.db-wal'), image.wal)
  const store = await openStore(`sqlite:${join(dir, 'b.db')}`, { sqlite: { durability: 'normal' } })
  try {
    return (await store.readKeys(session, 'session', ['peer.0'])).get('peer.0')
  } finally {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Inline flushes of the last lostWrites' `thenAlone` writes. */
let inlineWhileAlone = 0

/**
 * Writes `rounds` values per session, all sessions at once (one session: a lone bot), then
 * `thenAlone` more values of the first session one at a time, and takes a power-cut image at the
 * instant each write resolves. Returns the writes the cut would lose.
 */
async function lostWrites(options: (path: string) => OpenStoreOptions, sessions: number, rounds: number, thenAlone = 0): Promise<string[]> {
  const path = join(tempDir(), 'b.db')
  const store = await openStore(`sqlite:${path}`, options(path))
  const cuts: Array<{ session: string; value: string; image: DiskImage | undefined }> = []
  try {
    const auths = []
    for (let s = 0; s < sessions; s++) {
      const auth = await store.useAuthState(`s${s}`)
      await auth.saveCreds()
      auths.push(auth)
    }
    for (let round = 0; round < rounds; round++) {
      await Promise.all(
        auths.map(({ state }, s) => {
          const value = `round ${round}`
          return state.keys.set({ session: { 'peer.0': { value } as never } }).then(() => void cuts.push({ session: `s${s}`, value, image: powerCut(path) }))
        })
      )
    }
    const first = auths[0]
    const inlineBefore = flushes.inline
    for (let n = 0; first && n < thenAlone; n++) {
      const value = `alone ${n}`
      await first.state.keys.set({ session: { 'peer.0': { value } as never } })
      cuts.push({ session: 's0', value, image: powerCut(path) })
    }
    inlineWhileAlone = flushes.inline - inlineBefore
  } finally {
    await store.close()
  }
  const lost: string[] = []
  for (const { session, value, image } of cuts) {
    const found = (await survivor(image, session)) as { value?: string } | undefined
    if (found?.value !== value) lost.push(`${session} ${value} (a power cut left ${found?.value ?? 'nothing'})`)
  }
  return lost
}

describe('sqlite durable default: a write survives a power cut at the instant it resolves', () => {
  it('a commit without company is flushed inline, before its write resolves', async () => {
    const before = { ...flushes }
    // Inline whatever this disk's flush time (the default turns to the shared flush on a slow disk).
    assert.deepEqual(await lostWrites(() => ({ sqlite: { inlineFlushBelowMs: Infinity } }), 1, 12), [])
    assert.ok(flushes.inline - before.inline >= 12, `every lone commit flushed inline (inline ${flushes.inline - before.inline})`)
  })

  it('commits that come together share a flush off the event loop, and each resolves only after one that covers it', async () => {
    const before = { ...flushes }
    assert.deepEqual(await lostWrites(() => ({}), 8, 6), [])
    const shared = flushes.threadPool - before.threadPool
    assert.ok(shared > 0 && shared < 8 * 6, `flushes shared by concurrent commits (${shared} flushes for 48 commits)`)
  })

  it('right after commits came together, the next commit flushes off the loop at once, and resolves only after a flush that covers it', async () => {
    // Inline flushes allowed whatever this disk's speed: only the company of the last flush sends the first lone write off the loop.
    const options = () => ({ sqlite: { inlineFlushBelowMs: Infinity } })
    const before = { ...flushes }
    assert.deepEqual(await lostWrites(options, 8, 2, 3), [])
    assert.ok(flushes.threadPool - before.threadPool >= 3, 'the concurrent rounds and the first lone write flushed off the loop')
    // The first lone write follows a flush with company: shared at once; the two after it had none before them.
    assert.equal(inlineWhileAlone, 2, 'one lone write took the shared flush, the later ones were flushed inline')
  })

  it('control: the check catches a write that resolves before its flush', async () => {
    // No flush per commit: a power cut loses what a write reported saved.
    assert.ok((await lostWrites(() => ({ sqlite: { durability: 'normal' } }), 1, 3)).length > 0, 'durability normal loses writes')
    // A flush that reports done as soon as it starts: the commit's fdatasync has not run yet.
    const early = (path: string): OpenStoreOptions => ({
      sqlite: {
        walSync: () => {
          const fd = fs.openSync(`${path}-wal`, 'r')
          fs.fdatasync(fd, () => fs.closeSync(fd))
          return Promise.resolve()
        }
      }
    })
    assert.ok((await lostWrites(early, 4, 3)).length > 0, 'a flush that resolves early loses writes')
  })
})
