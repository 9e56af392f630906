import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import type { Driver, WriteBatch } from '../../src/core/driver.js'
import { createMemoryDriver } from '../../src/drivers/memory.js'
import { createSqliteDriver } from '../../src/drivers/sqlite.js'
import { openStore } from '../../src/open-store.js'
import { migrate } from '../../src/tools/migrate.js'
import { valueDigest } from '../../src/tools/digest.js'
import { encodeValue } from '../../src/codec/values.js'
import { aliceSource, assertConversationContinues, rawSnapshot, toolsSuite } from '../helpers/tools-suite.js'
import { copyFixture, fixtureFacts, readBaileysFolder } from '../helpers/fixture.js'
import { runCli } from '../helpers/tools-cli.js'
import { testEncryption } from '../helpers/encryption-keys.js'
import { keyFile } from '../../src/drivers/file-names.js'
import { CHANGE_MARGIN_MS } from '../../src/drivers/file-changes.js'
import type { ToolProgress } from '../../src/tools/progress.js'

const dir = mkdtempSync(join(tmpdir(), 'vault-tools-migrate-'))
after(() => rmSync(dir, { recursive: true, force: true }))
let n = 0
const sqliteUrl = () => `sqlite:${join(dir, `t${++n}.db`)}`
const memoryUrl = () => `memory:tools-migrate-${process.pid}-${++n}`

toolsSuite('memory', async () => ({ url: memoryUrl() }))
toolsSuite('sqlite', async () => ({ url: sqliteUrl() }))
// The same scenarios on encrypted stores (one key set per suite: backups are restored across targets).
const memoryEncryption = testEncryption()
toolsSuite('memory, encrypted', async () => ({ url: memoryUrl(), options: { encryption: memoryEncryption } }))
const sqliteEncryption = testEncryption()
toolsSuite('sqlite, encrypted', async () => ({ url: sqliteUrl(), options: { encryption: sqliteEncryption } }))

/** A driver that records every write (to check batching and creds-last) and can damage values. */
function recordingDriver(options: { damage?: (type: string, id: string) => Uint8Array | undefined } = {}) {
  const inner = createMemoryDriver()
  const writes: Array<{ creds: boolean; keys: number }> = []
  const driver: Driver = {
    ...inner,
    async write(session: string, batch: WriteBatch) {
      writes.push({ creds: !!batch.creds, keys: batch.set.length })
      const set = batch.set.map(([t, id, v]): [string, string, Uint8Array] => {
        return [t, id, options.damage?.(t, id) ?? v]
      })
      return inner.write(session, { ...batch, set })
    }
  }
  return { driver, writes }
}

/** alice's fixture folder in numbers (the generator's output, not constants). */
const ALICE = fixtureFacts('alice')

describe('migrate (library)', () => {
  it('writes in bounded batches, creds last, and never touches the source', async () => {
    const source = await aliceSource()
    const before = await rawSnapshot(source.store, 'alice')
    const { driver, writes } = recordingDriver()
    const target = await openStore(driver)
    const progress: string[] = []
    const result = await migrate(source.store, target, { batchSize: 10, onProgress: p => progress.push(p.phase) })
    assert.equal(result.ok, true)
    assert.ok(writes.length >= Math.ceil(source.keys / 10) + 1)
    assert.ok(
      writes.every(w => w.keys <= 10),
      'no batch above the batch size'
    )
    assert.deepEqual(writes.at(-1), { creds: true, keys: 0 }, 'creds are the last write')
    assert.ok(
      writes.slice(0, -1).every(w => !w.creds),
      'no creds before the keys are all in'
    )
    assert.deepEqual(await rawSnapshot(source.store, 'alice'), before)
    assert.ok(progress.includes('copy') && progress.includes('verify'))
  })

  it('reports keys that did not arrive intact, with type and id', async () => {
    const source = await aliceSource()
    const other = encodeValue({ public: Buffer.alloc(32, 1), private: Buffer.alloc(32, 2) })
    const torn = Buffer.from([1, 0x7b, 0x22]) // the envelope byte, then '{"': a torn write
    const { driver } = recordingDriver({
      damage: (t, id) => (t === 'session' || (t === 'pre-key' && id === '7') ? other : t === 'sender-key-memory' ? torn : undefined)
    })
    const result = await migrate(source.store, await openStore(driver))
    assert.equal(result.ok, false)
    const s = result.sessions[0]
    assert.equal(s?.mismatchCount, 4)
    assert.deepEqual(
      s?.mismatches.map(m => `${m.reason} ${m.type} ${m.id}`).sort(),
      [
        'different pre-key 7',
        'different session 90000000000002_1.0',
        'different session 90000000000003_1.0',
        'unreadable sender-key-memory 120363000000000001@g.us'
      ].sort()
    )
  })

  for (const kind of ['memory', 'sqlite (counts keys without listing them)'])
    it(`notices keys on the target that the source does not have: ${kind}`, async () => {
      const source = await aliceSource()
      const inner = kind === 'memory' ? createMemoryDriver() : await createSqliteDriver({ path: ':memory:' })
      // A target where something else adds a key while the migration runs.
      const driver: Driver = {
        ...inner,
        async write(session, batch) {
          if (batch.creds) batch = { ...batch, set: [...batch.set, ['tctoken', 'intruder@s.whatsapp.net', encodeValue({ token: Buffer.from('x') })]] }
          return inner.write(session, batch)
        }
      }
      const result = await migrate(source.store, await openStore(driver))
      assert.equal(result.ok, false)
      assert.deepEqual(result.sessions[0]?.mismatches, [{ type: 'tctoken', reason: 'extra', detail: '1 key(s) on the target that the source does not have' }])
    })

  it('dry run counts and reports conflicts without writing', async () => {
    const source = await aliceSource()
    const target = await openStore(memoryUrl())
    const dry = await migrate(source.store, target, { dryRun: true })
    assert.equal(dry.dryRun, true)
    assert.equal(dry.keys, source.keys)
    assert.equal(dry.ok, true)
    let count = 0
    for await (const _ of target.sessions()) count++
    assert.equal(count, 0, 'nothing written')
    await migrate(source.store, target)
    const conflict = await migrate(source.store, target, { dryRun: true })
    assert.equal(conflict.ok, false)
    assert.equal(conflict.sessions[0]?.targetHadData, true)
  })

  it('digests compare values, not envelopes: bare JSON and enveloped stores agree', () => {
    const a = { b: Buffer.from([1, 2]), a: 1, nested: { y: new Uint8Array([3]), x: 'x' } }
    const b = { nested: { x: 'x', y: Buffer.from([3]) }, a: 1, b: new Uint8Array([1, 2]) }
    assert.equal(valueDigest(a), valueDigest(b))
    assert.notEqual(valueDigest(a), valueDigest({ ...b, a: 2 }))
  })
})

describe('baileys-vault migrate (CLI)', () => {
  it("migrates alice straight from her Baileys folder (file:) to sqlite: and memory:; bob's next message decrypts", async () => {
    const folder = copyFixture('alice')
    const keys = (await readBaileysFolder(folder)).keys.length
    const before = await rawSnapshot(await openStore(`file:${folder}`), 'default')
    for (const to of [sqliteUrl(), memoryUrl()]) {
      const run = await runCli(['migrate', `file:${folder}`, to, '--json'])
      assert.equal(run.code, 0, run.stderr)
      const s = run.json().sessions[0]
      assert.equal(s.session, 'default', "a Baileys folder is the store's session 'default'")
      assert.equal(s.keys, keys)
      assert.equal(s.verified, keys + 1, 'bare JSON files and the target envelope compare equal by value')
      const target = await openStore(to)
      try {
        await assertConversationContinues(target, 'default')
      } finally {
        await target.close()
      }
    }
    assert.deepEqual(await rawSnapshot(await openStore(`file:${folder}`), 'default'), before, 'the Baileys folder is untouched')
  })

  it('copies memory -> sqlite, prints JSON, and the conversation continues', async () => {
    const source = await aliceSource()
    const to = sqliteUrl()
    const run = await runCli(['migrate', source.url, to, '--json'])
    assert.equal(run.code, 0, run.stderr)
    const result = run.json()
    assert.equal(result.ok, true)
    assert.equal(result.sessions[0]?.session, 'alice')
    assert.equal(result.sessions[0]?.verified, source.keys + 1)
    assert.equal(result.sessions[0]?.counts['pre-key'], ALICE.byType['pre-key'])
    const target = await openStore(to)
    try {
      await assertConversationContinues(target)
    } finally {
      await target.close()
    }
  })

  it('--as gathers several Baileys folders into one store under their own names', async () => {
    const to = sqliteUrl()
    const alice = await runCli(['migrate', `file:${copyFixture('alice')}`, to, '--as', 'alice'])
    assert.equal(alice.code, 0, alice.stderr)
    assert.match(alice.stdout, new RegExp(`^default as alice: copied ${ALICE.keys} keys \\+ creds`, 'm'))
    const bob = await runCli(['migrate', `file:${copyFixture('bob')}`, to, '--as', 'bob', '--json'])
    assert.equal(bob.code, 0, bob.stderr)
    assert.deepEqual([bob.json().sessions[0]?.session, bob.json().sessions[0]?.target], ['default', 'bob'])
    assert.deepEqual(
      (await runCli(['ls', to, '--json'])).json().sessions.map((s: any) => [s.session, s.phone]),
      [
        ['alice', '15550000001'],
        ['bob', '15550000002']
      ]
    )
    const again = await runCli(['migrate', `file:${copyFixture('alice')}`, to, '--as', 'alice'])
    assert.equal(again.code, 2, 'the renamed target is checked for existing data')
    const target = await openStore(to)
    try {
      await assertConversationContinues(target, 'alice')
    } finally {
      await target.close()
    }
    const two = await runCli(['migrate', to, memoryUrl(), '--as', 'x'])
    assert.equal(two.code, 2)
    assert.match(two.stderr, /2 sessions; pick one with --session/)
  })

  it('prints a readable report; refuses existing data with exit 2 until --overwrite', async () => {
    const source = await aliceSource()
    const to = sqliteUrl()
    const first = await runCli(['migrate', source.url, to])
    assert.equal(first.code, 0, first.stderr)
    assert.match(first.stdout, new RegExp(`alice: copied ${ALICE.keys} keys \\+ creds`))
    assert.match(first.stdout, new RegExp(`verified: ${ALICE.keys + 1} of ${ALICE.keys + 1}`))

    const refused = await runCli(['migrate', source.url, to])
    assert.equal(refused.code, 2)
    assert.match(refused.stderr, /already has data for session\(s\) "alice"\. Nothing was written/)

    const dry = await runCli(['migrate', source.url, to, '--dry-run'])
    assert.equal(dry.code, 1, 'a dry run that would be refused is a problem')
    assert.match(dry.stdout, /would refuse/)

    const forced = await runCli(['migrate', source.url, to, '--overwrite', '--json'])
    assert.equal(forced.code, 0, forced.stderr)
    assert.equal(forced.json().sessions[0]?.overwritten, true)
  })

  it('usage and I/O errors exit 2 with a message', async () => {
    const source = await aliceSource()
    const same = await runCli(['migrate', source.url, source.url])
    assert.equal(same.code, 2)
    assert.match(same.stderr, /same store/)

    const missing = await runCli(['migrate', `sqlite:${join(dir, 'nope.db')}`, memoryUrl()])
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /does not exist/)

    const noSession = await runCli(['migrate', source.url, memoryUrl(), '--session', 'zed', '--json'])
    assert.equal(noSession.code, 2)
    assert.equal(noSession.json().error.code, 'NOT_FOUND')

    const typo = await runCli(['migrate', source.url, memoryUrl(), '--dryrun'])
    assert.equal(typo.code, 2)
    assert.match(typo.stderr, /unknown option --dryrun/)

    const args = await runCli(['migrate', source.url])
    assert.equal(args.code, 2)
    assert.match(args.stderr, /missing <to-url>/)
  })

  it('redacts passwords in store URLs it prints', async () => {
    const run = await runCli(['migrate', 'postgres://bot:hunter2@db.invalid/wa', memoryUrl()])
    assert.equal(run.code, 2)
    assert.doesNotMatch(run.stdout + run.stderr, /hunter2/)
  })

  it('copies sessions selected with --session only', async () => {
    const source = await aliceSource()
    await source.store.write('other', { set: [['device-list', '1555', ['0']]] })
    const to = memoryUrl()
    const run = await runCli(['migrate', source.url, to, '--session', 'alice', '--json'])
    assert.equal(run.code, 0, run.stderr)
    assert.deepEqual(
      run.json().sessions.map((s: any) => s.session),
      ['alice']
    )
    const all = await runCli(['migrate', source.url, memoryUrl(), '--json'])
    assert.deepEqual(
      all.json().sessions.map((s: any) => s.session),
      ['alice', 'other']
    )
  })
})

/** Until a fresh copy of a folder is older than the change margin: its keys then count as unchanged. */
const settle = () => new Promise(resolve => setTimeout(resolve, CHANGE_MARGIN_MS + 100))

/** A Baileys folder (file:) and the keys in the order migrate copies them. */
async function fileSource() {
  const folder = copyFixture('alice')
  const store = await openStore(`file:${folder}`, { readOnly: true })
  const keys: Array<[string, string]> = []
  for await (const [type, id] of store.listKeys('default')) keys.push([type, id])
  return { folder, store, keys, path: (type: string, id: string) => join(folder, keyFile(type, id).file) }
}

/** Runs `change` once, when the first batch has been copied to the target (migrate's own progress hook). */
const onFirstCopy = (change: () => void) => {
  let done = false
  return (p: ToolProgress) => {
    if (p.phase !== 'copy' || p.done === 0 || done) return
    done = true
    change()
  }
}

describe('migrate from a file: source changed during the copy', () => {
  for (const settled of [true, false]) {
    it(`reports a key that Baileys rewrote in place after it was copied (${settled ? 'checked by timestamps' : 'folder just written: every key read again'})`, async () => {
      const source = await fileSource()
      if (settled) await settle()
      const [type, id] = source.keys[0] ?? assert.fail('the source has keys') // in the first batch
      const result = await migrate(source.store, await openStore(sqliteUrl()), {
        batchSize: 10,
        // What useMultiFileAuthState's writeData does: writeFile over the existing file, in place.
        onProgress: onFirstCopy(() => writeFileSync(source.path(type, id), JSON.stringify({ changed: 'during the copy' })))
      })
      assert.equal(result.ok, false)
      assert.deepEqual(result.sessions[0]?.mismatches, [{ type, id, reason: 'different' }])
      assert.equal(result.sessions[0]?.verified, source.keys.length, 'every other key and the creds')
    })
  }

  it('reports a key added to the source and one removed from it during the copy', async () => {
    const source = await fileSource()
    await settle()
    const [goneType, goneId] = source.keys[1] ?? assert.fail('the source has keys')
    const result = await migrate(source.store, await openStore(sqliteUrl()), {
      batchSize: 10,
      onProgress: onFirstCopy(() => {
        writeFileSync(source.path('pre-key', '999999'), JSON.stringify({ public: { type: 'Buffer', data: 'AA==' } }))
        unlinkSync(source.path(goneType, goneId))
      })
    })
    assert.equal(result.ok, false)
    assert.deepEqual(
      result.sessions[0]?.mismatches.map(m => `${m.reason} ${m.type} ${m.id ?? ''}`).sort(),
      ['extra ' + goneType + ' ', 'missing pre-key 999999'].sort()
    )
  })

  it('into a target that commits on call (sqlite): one key per batch is read back, and the counts find a key lost in any batch', async () => {
    const source = await fileSource()
    await settle()
    /** A SQLite target whose writes lose the first key of the first batch, or change the last key of the second. */
    const faulty = async (fault: 'lose' | 'change') => {
      const inner = await createSqliteDriver({ path: join(dir, `faulty${++n}.db`) })
      let batches = 0
      const driver: Driver = {
        ...inner,
        write(session, batch) {
          if (batch.set.length === 0) return inner.write(session, batch)
          const set = [...batch.set]
          batches++
          if (fault === 'lose' && batches === 1) set.shift()
          if (fault === 'change' && batches === 2) set[set.length - 1] = [set.at(-1)![0], set.at(-1)![1], encodeValue({ changed: true })]
          return inner.write(session, { ...batch, set })
        }
      }
      assert.ok(driver.capabilities.commitsOnCall, 'the spot-check path is the one under test')
      return openStore(driver)
    }
    const lost = await migrate(source.store, await faulty('lose'), { batchSize: 10 })
    assert.equal(lost.ok, false)
    assert.deepEqual(
      (lost.sessions[0] ?? assert.fail('one session')).mismatches.map(m => `${m.reason} ${m.type}`),
      [`missing ${source.keys[0]?.[0]}`],
      'the count per type finds the key no batch check read back'
    )
    const changed = await migrate(source.store, await faulty('change'), { batchSize: 10 })
    assert.equal(changed.ok, false)
    // The spot check failed, so verification compared every key of the source again: the key is named.
    assert.deepEqual(
      (changed.sessions[0] ?? assert.fail('one session')).mismatches.map(m => `${m.reason} ${m.type} ${m.id}`),
      [`different ${source.keys[19]?.[0]} ${source.keys[19]?.[1]}`]
    )
  })

  it('an unchanged source verifies without mismatches; keysChangedSince names only the keys written since', async () => {
    const source = await fileSource()
    await settle()
    const result = await migrate(source.store, await openStore(sqliteUrl()), { batchSize: 10 })
    assert.equal(result.ok, true)
    assert.equal(result.sessions[0]?.verified, source.keys.length + 1)

    const since = Date.now()
    const changedNow = async () => {
      const out: string[] = []
      for await (const [t, i, changed] of source.store.keysChangedSince('default', since)!) if (changed) out.push(`${t} ${i}`)
      return out
    }
    assert.deepEqual(await changedNow(), [])
    const [type, id] = source.keys[3] ?? assert.fail('the source has keys')
    writeFileSync(source.path(type, id), JSON.stringify({ changed: true }))
    assert.deepEqual(await changedNow(), [`${type} ${id}`], 'a rewrite in place')
    writeFileSync(join(source.folder, 'notes.txt'), 'a new name in the folder')
    assert.equal((await changedNow()).length, source.keys.length, 'a new name in the folder: every key may have been replaced by a rename')
  })
})
