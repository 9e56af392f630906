import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { toBufferJson } from '../../src/codec/buffer-json.js'
import { isParsedJson } from '../../src/codec/parsed-json.js'
import { checkBody } from '../../src/codec/values.js'
import { READ_AHEAD_MIN_FILES, READ_THREADS, changedAhead, readAhead, readAheadStats } from '../../src/drivers/file-read-ahead.js'
import { CHANGE_MARGIN_MS, statChangedSince } from '../../src/drivers/file-changes.js'
import { parseKeyFile } from '../../src/drivers/file-names.js'
import { openStore } from '../../src/open-store.js'
import { migrate } from '../../src/tools/migrate.js'
import { copyFixture } from '../helpers/fixture.js'

/**
 * Bulk listings of a file: folder read their files on a worker thread (file-read-ahead.ts):
 * the same bytes in the same order as a read on the listing thread, the same errors, and a
 * migrate through it copies exactly what the folder holds and still refuses a damaged file.
 */
const root = mkdtempSync(join(tmpdir(), 'vault-read-ahead-'))
after(() => rmSync(root, { recursive: true, force: true }))

/** alice's fixture folder with enough extra pre-keys that a listing of it takes the worker path. */
function bulkFolder(): string {
  const folder = copyFixture('alice')
  for (let i = 0; i < READ_AHEAD_MIN_FILES + 300; i++) {
    writeFileSync(join(folder, `pre-key-${900_000 + i}.json`), toBufferJson({ private: randomBytes(32), public: randomBytes(32) }))
  }
  return folder
}

/** Every file of a folder by name, hashed: the source must be byte-for-byte the same after a migrate. */
const folderDigest = (folder: string) =>
  readdirSync(folder)
    .sort()
    .map(
      name =>
        `${name}:${createHash('sha256')
          .update(readFileSync(join(folder, name)))
          .digest('hex')}`
    )

describe('readAhead', () => {
  it('returns every file in order across pages read by READ_THREADS threads, undefined for a file that is gone, whole however large', async () => {
    const dir = join(root, 'pages')
    mkdirSync(dir)
    const names = Array.from({ length: 1400 }, (_, i) => `f${i}.json`)
    /** Sizes 0-96 bytes, and two files larger than a thread's first read buffer (1 MiB), in different pages. */
    const contentOf = (i: number) => (i === 300 || i === 1100 ? randomBytes(3 * 1024 * 1024 + i) : Buffer.from('x'.repeat(i % 97)))
    names.forEach((name, i) => writeFileSync(join(dir, name), contentOf(i)))
    unlinkSync(join(dir, names[700] ?? assert.fail('1400 names')))
    const before = { ...readAheadStats }
    const got: Array<Buffer | undefined> = []
    for await (const page of readAhead({ dir, names })) got.push(...page)
    assert.equal(got.length, names.length)
    got.forEach((value, i) => assert.deepEqual(value, i === 700 ? undefined : readFileSync(join(dir, names[i]!)), names[i]))
    assert.equal(got[300]!.length, 3 * 1024 * 1024 + 300, 'a large file whole')
    assert.ok(readAheadStats.pages - before.pages > 1, 'read by the worker, in several pages')
    assert.equal(readAheadStats.threadsThatRead - before.threadsThatRead, READ_THREADS, `the pages shared by ${READ_THREADS} threads`)
  })

  it('with parseJson, parses each file on the worker: a file that parses as JSON is marked, a damaged one is not and checkBody still throws its error', async () => {
    const dir = join(root, 'parsed')
    mkdirSync(dir)
    const names = Array.from({ length: 600 }, (_, i) => `pre-key-${i}.json`)
    names.forEach((name, i) => writeFileSync(join(dir, name), toBufferJson({ n: i, key: randomBytes(8) })))
    const torn = '{"private":{"type":"Buffer","data":"AAA'
    writeFileSync(join(dir, 'pre-key-300.json'), torn)
    const got: Array<Buffer | undefined> = []
    for await (const page of readAhead({ dir, names, parseJson: true })) got.push(...page)
    got.forEach((value, i) => assert.equal(isParsedJson(value!), i !== 300, names[i]))
    // Not asked to (a backup, which decodes each value itself): nothing parsed, nothing marked.
    for await (const page of readAhead({ dir, names })) for (const value of page) assert.equal(isParsedJson(value!), false)
    // The same error as for bytes never seen by the worker (a copy of the torn file is not marked).
    const expected = (() => {
      try {
        checkBody(Buffer.from(torn), 'default', 'pre-key', '300')
      } catch (err) {
        return err as Error & { code?: string }
      }
      return assert.fail('checkBody refuses torn JSON')
    })()
    assert.throws(
      () => checkBody(got[300]!, 'default', 'pre-key', '300'),
      (err: Error & { code?: string }) => err.code === 'CORRUPT_DATA' && err.message === expected.message
    )
  })

  it('changedAhead: each file changed since a moment or not (as statChangedSince), undefined for a file gone', async () => {
    const dir = join(root, 'stats')
    mkdirSync(dir)
    const names = Array.from({ length: 700 }, (_, i) => `s${i}.json`)
    const name = (i: number) => names[i] ?? assert.fail(`no file ${i}`)
    for (const name of names) writeFileSync(join(dir, name), '{}')
    // Old files: mtime and ctime well before `since` (utimes sets the mtime; ctime is now, so `since` is later).
    const since = Date.now() + 5 * CHANGE_MARGIN_MS
    const touched = new Set([3, 300, 699])
    for (const i of touched) utimesSync(join(dir, name(i)), new Date(since + 1000), new Date(since + 1000))
    unlinkSync(join(dir, name(500)))
    const statPagesBefore = readAheadStats.statPages
    const got: Array<boolean | undefined> = []
    for await (const page of changedAhead(dir, names, since)) got.push(...page)
    assert.equal(got.length, names.length)
    got.forEach((changed, i) => assert.equal(changed, i === 500 ? undefined : touched.has(i), names[i]))
    got.forEach((changed, i) => assert.equal(changed, statChangedSince(join(dir, name(i)), since), `same as on this thread: ${name(i)}`))
    assert.ok(readAheadStats.statPages - statPagesBefore > 1, 'statted by the worker, in several pages')
  })

  it('throws the error a read on this thread throws (code and path)', async () => {
    const dir = join(root, 'errors')
    mkdirSync(join(dir, 'a-folder'), { recursive: true })
    writeFileSync(join(dir, 'ok.json'), '{}')
    symlinkSync(join(dir, 'a-folder'), join(dir, 'link.json'))
    const expected = (() => {
      try {
        readFileSync(join(dir, 'link.json'))
      } catch (err) {
        return err as NodeJS.ErrnoException
      }
    })()!
    await assert.rejects(
      async () => {
        for await (const _ of readAhead({ dir, names: ['ok.json', 'link.json'] })) void _
      },
      (err: NodeJS.ErrnoException) => err.code === expected.code && err.path === expected.path && err.syscall === expected.syscall
    )
  })
})

describe('migrate from a large file: folder (worker-thread reads)', () => {
  it('copies exactly the files of the folder, verifies every key, and leaves the source as it was', async () => {
    const folder = bulkFolder()
    const before = folderDigest(folder)
    const from = await openStore(`file:${folder}`)
    const to = await openStore(`sqlite:${join(root, 'copy.db')}`)
    const pagesBefore = readAheadStats.pages
    const parsedBefore = readAheadStats.parsedOnWorker
    const result = await migrate(from, to)
    assert.ok(readAheadStats.pages > pagesBefore, 'the listing took the worker path (control: without it this test proves nothing new)')
    assert.equal(result.ok, true, JSON.stringify(result.sessions[0]?.mismatches))
    const keyFiles = readdirSync(folder).filter(name => name !== 'creds.json' && parseKeyFile(name))
    assert.equal(readAheadStats.parsedOnWorker - parsedBefore, keyFiles.length, 'every key file was parsed on the worker (checkBody skips a marked body)')
    assert.equal(result.keys, keyFiles.length)
    assert.equal(result.sessions[0]?.verified, keyFiles.length + 1, 'every key and the creds read back equal')
    // Read independently of the listing: each file's text is what the target holds for its key.
    for (const name of keyFiles) {
      const { type, id } = parseKeyFile(name) as { type: string; id: string }
      const stored = (await to.readRaw('default', type, [id])).get(id)
      assert.ok(stored, `${name} copied`)
      assert.deepEqual(to.valueBody(stored, { session: 'default', type, id }), readFileSync(join(folder, name)), name)
    }
    assert.deepEqual(folderDigest(folder), before, 'the source folder is unchanged')
    await from.close()
    await to.close()
  })

  it("verification's stat pass (keysChangedSince) of a large folder runs on the worker: the same answer per key as a stat here", async () => {
    const folder = bulkFolder()
    const from = await openStore(`file:${folder}`)
    // A moment after the folder's own change (its files were just written), so each file is statted.
    const since = Date.now() + 3 * CHANGE_MARGIN_MS
    const changedName = 'pre-key-900005.json'
    utimesSync(join(folder, changedName), new Date(since), new Date(since))
    const statPagesBefore = readAheadStats.statPages
    let changed = 0
    let keys = 0
    for await (const [type, id, isChanged] of from.keysChangedSince('default', since)!) {
      keys++
      const name = `${type}-${id}.json`
      if (isChanged) {
        changed++
        assert.equal(name, changedName)
      }
    }
    assert.ok(readAheadStats.statPages > statPagesBefore, 'statted on the worker (control: the path under test was taken)')
    assert.equal(changed, 1, 'exactly the file touched after the moment')
    assert.equal(keys, readdirSync(folder).filter(name => name !== 'creds.json' && parseKeyFile(name)).length)
    await from.close()
  })

  it("verification takes the copy's listing while the folder's names are unchanged; a file added since is listed again and reported changed", async () => {
    const folder = bulkFolder()
    // The folder's own timestamps must predate the copy, as a folder a bot wrote earlier does.
    await new Promise(resolve => setTimeout(resolve, CHANGE_MARGIN_MS + 50))
    const from = await openStore(`file:${folder}`)
    /** Keys keysChangedSince reports after a whole listing with values (migrate's copy) that began at `since`. */
    const afterCopy = async (change?: () => void) => {
      const since = Date.now()
      let listed = 0
      for await (const _ of from.listRaw('default')) listed++
      change?.()
      const reused = readAheadStats.listingsReused
      const keys = new Map<string, boolean>()
      for await (const [type, id, changed] of from.keysChangedSince('default', since)!) keys.set(`${type}-${id}.json`, changed)
      return { listed, keys, reused: readAheadStats.listingsReused - reused }
    }
    const unchanged = await afterCopy()
    assert.equal(unchanged.reused, 1, 'the listing was taken from the copy')
    assert.equal(unchanged.keys.size, unchanged.listed)
    assert.ok(
      [...unchanged.keys.values()].every(changed => !changed),
      'nothing changed since the copy began'
    )
    // Control: a key added after the copy's listing is not in that listing; the folder's names changed, so it is listed again.
    const added = 'pre-key-990001.json'
    const withAdded = await afterCopy(() => writeFileSync(join(folder, added), toBufferJson({ private: randomBytes(32), public: randomBytes(32) })))
    assert.equal(withAdded.reused, 0, 'listed again')
    assert.equal(withAdded.keys.size, withAdded.listed + 1)
    assert.equal(withAdded.keys.get(added), true, 'the added key is reported, as changed')
    await from.close()
  })

  it('refuses a damaged key file: CORRUPT_DATA naming it, no session on the target, the source unchanged', async () => {
    const folder = bulkFolder()
    writeFileSync(join(folder, 'pre-key-900777.json'), '{"private":{"type":"Buffer","data":"AAA') // torn write
    const before = folderDigest(folder)
    const from = await openStore(`file:${folder}`)
    const to = await openStore(`sqlite:${join(root, 'refused.db')}`)
    const pagesBefore = readAheadStats.pages
    const parsedBefore = readAheadStats.parsedOnWorker
    await assert.rejects(
      migrate(from, to),
      (err: Error & { code?: string }) =>
        err.code === 'CORRUPT_DATA' &&
        err.message.startsWith('Stored value for session "default" pre-key "900777" is not valid JSON (torn or damaged).') &&
        !err.message.includes('AAA')
    )
    assert.ok(readAheadStats.pages > pagesBefore, 'the listing took the worker path')
    assert.ok(readAheadStats.parsedOnWorker - parsedBefore > 700, 'the keys before the damaged one were parsed on the worker')
    const sessions: string[] = []
    for await (const s of to.sessions()) sessions.push(s)
    assert.deepEqual(sessions, [], 'nothing visible on the target')
    assert.equal(await to.hasCreds('default'), false)
    assert.deepEqual(folderDigest(folder), before, 'the source folder is unchanged')
    await from.close()
    await to.close()
  })
})
