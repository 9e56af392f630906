import assert from 'node:assert/strict'
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import { after, describe, it } from 'node:test'
import { openStore } from '../../src/open-store.js'
import type { Store } from '../../src/store/store.js'
import { isVaultError } from '../../src/core/errors.js'
import { migrate } from '../../src/tools/migrate.js'
import { backup } from '../../src/tools/backup.js'
import { restore } from '../../src/tools/restore.js'
import { copyFixture, importBaileysFolder } from './fixture.js'
import type { StoreTarget } from './real-client-suite.js'
import { assertConversationContinues } from './conversation.js'
import { rawDriver } from './raw-driver.js'

let sourceCounter = 0

/** alice from the fixture, imported into an in-process store: the source of the migrations. */
export async function aliceSource(): Promise<{ store: Store; url: string; keys: number }> {
  const url = `memory:tools-alice-${process.pid}-${++sourceCounter}`
  const store = await openStore(url)
  const keys = await importBaileysFolder(store, copyFixture('alice'), 'alice')
  return { store, url, keys }
}

export { assertConversationContinues }

/** Every key and the creds of a session, as bytes: to prove a source was not modified. */
export async function rawSnapshot(store: Store, session: string): Promise<string[]> {
  const out: string[] = []
  const creds = await rawDriver(store).getCreds(session)
  out.push(`creds:${creds ? Buffer.from(creds).toString('base64') : '-'}`)
  for await (const [type, id, value] of store.listRaw(session)) out.push(`${type}/${id}:${Buffer.from(value!).toString('base64')}`)
  return out
}

async function keyCount(store: Store, session: string): Promise<number> {
  let n = 0
  for await (const _ of store.listKeys(session)) n++
  return n
}

/**
 * The tools' conversation-continues scenarios for one store kind. `makeTarget` returns a fresh,
 * empty backend each call (like realClientSuite). Driver engineers run it in a few lines:
 *   toolsSuite('postgres', async () => ({ url: …, cleanup }))
 * Every store is opened with the target's `options`. For an encrypted run, return the same
 * encryption options each call: a backup of one target (sealed under its key) is restored into
 * another.
 */
export function toolsSuite(name: string, makeTarget: () => Promise<StoreTarget>): void {
  describe(`tools: ${name}`, () => {
    const cleanups: Array<() => Promise<void>> = []
    const dir = mkdtempSync(join(tmpdir(), 'vault-tools-suite-'))
    after(async () => {
      for (const c of cleanups) await c()
      rmSync(dir, { recursive: true, force: true })
    })
    const open = async () => {
      const t = await makeTarget()
      if (t.cleanup) cleanups.push(t.cleanup)
      const store = await openStore(t.url, t.options)
      cleanups.unshift(() => store.close())
      return store
    }

    it("migrate: alice's conversation continues on the target, and migrating out of it works too", async () => {
      const source = await aliceSource()
      const before = await rawSnapshot(source.store, 'alice')
      const target = await open()
      const result = await migrate(source.store, target)
      assert.equal(result.ok, true, JSON.stringify(result.sessions[0]?.mismatches))
      assert.equal(result.keys, source.keys)
      assert.equal(result.sessions[0]?.verified, source.keys + 1, 'every key and the creds read back equal')
      assert.deepEqual(await rawSnapshot(source.store, 'alice'), before, 'the source is untouched')
      assert.equal(await keyCount(target, 'alice'), source.keys)

      // The target as a source: copy it on to a memory store before any message changes it.
      const onward = await openStore(`memory:tools-onward-${process.pid}-${++sourceCounter}`)
      const back = await migrate(target, onward)
      assert.equal(back.ok, true)
      assert.equal(back.sessions[0]?.verified, source.keys + 1)

      await assertConversationContinues(target)
      await assertConversationContinues(onward)
    })

    it('migrate refuses a target session that has data, writes nothing; overwrite replaces it', async () => {
      const source = await aliceSource()
      const target = await open()
      await target.write('alice', { set: [['pre-key', '999999', { public: Buffer.alloc(32, 1), private: Buffer.alloc(32, 2) }]] })
      await assert.rejects(
        migrate(source.store, target),
        (err: unknown) => isVaultError(err, 'INVALID_ARGUMENT') && /already has data/.test((err as Error).message)
      )
      assert.equal(await keyCount(target, 'alice'), 1, 'nothing written')
      assert.equal(await target.readCreds('alice'), undefined)

      const result = await migrate(source.store, target, { overwrite: true })
      assert.equal(result.ok, true)
      assert.equal(result.sessions[0]?.overwritten, true)
      assert.equal(await keyCount(target, 'alice'), source.keys, 'the stray key is gone')
      await assertConversationContinues(target)
    })

    it("backup then restore: alice's conversation continues on the restored store", async () => {
      const source = await aliceSource()
      const original = await open()
      await migrate(source.store, original)
      const file = join(dir, `${name}-alice.vault.gz`)
      const b = await backup(original, file)
      assert.equal(b.keys, source.keys)
      assert.equal(b.sessions[0]?.creds, 1)
      // An encrypted store's backup is sealed under its key; the restored store (same keys) opens it.
      assert.equal(b.sealed, original.currentKeyId !== undefined, 'sealed exactly when the store is encrypted')
      if (original.canSnapshot) assert.equal(b.snapshot, true)
      else assert.match(b.note ?? '', /live/)

      const restored = await open()
      const r = await restore(file, restored)
      assert.equal(r.ok, true, JSON.stringify(r.sessions[0]?.mismatches))
      assert.equal(r.sealed, b.sealed)
      assert.equal(r.sessions[0]?.verified, source.keys + 1)
      await assertConversationContinues(restored)
    })

    it('restore refuses a truncated or tampered backup before writing anything', async () => {
      const source = await aliceSource()
      const file = join(dir, `${name}-good.vault.gz`)
      await backup(source.store, file)
      const good = readFileSync(file)

      const truncated = join(dir, `${name}-truncated.vault.gz`)
      writeFileSync(truncated, good.subarray(0, Math.floor(good.length * 0.6)))
      const text = gunzipSync(good).toString('utf8')
      const tampered = join(dir, `${name}-tampered.vault.gz`)
      // A valid gzip stream whose content changed: only the checksum can tell.
      writeFileSync(tampered, gzipSync(Buffer.from(text.replace('"registrationId":', '"registrationId":1'), 'utf8')))
      const cut = join(dir, `${name}-cut.vault.gz`)
      // Lines dropped at a line boundary, gzip intact: the end marker is missing.
      writeFileSync(cut, gzipSync(Buffer.from(text.split('\n').slice(0, 20).join('\n') + '\n', 'utf8')))

      for (const bad of [truncated, tampered, cut]) {
        const target = await open()
        await assert.rejects(restore(bad, target), (err: unknown) => isVaultError(err, 'CORRUPT_DATA') && /damaged/.test((err as Error).message))
        assert.equal(await keyCount(target, 'alice'), 0, `nothing written from ${bad}`)
        assert.equal(await target.readCreds('alice'), undefined)
      }
    })
  })
}
