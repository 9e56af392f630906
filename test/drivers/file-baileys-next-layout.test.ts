import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { openStore } from '../../src/open-store.js'
import { doctor } from '../../src/tools/doctor.js'
import { VaultError } from '../../src/core/errors.js'
import { copyFixture, manifest } from '../helpers/fixture.js'
import { assertConversationContinues } from '../helpers/conversation.js'

/**
 * Folders written by Baileys' next useMultiFileAuthState (develop, to be 7.0.0): it writes
 * `<file>.tmp`, renames the old file to `<file>.bak`, renames the `.tmp` into place, and reads
 * the `.bak` when the file is missing or unreadable. Real Signal traffic continues after each case.
 */

const SESSION_FILE = 'session-90000000000002_1.0.json' // alice's session with bob: rewritten by the conversation
const PRE_KEY = 'pre-key-7.json'

async function keysOf(folder: string): Promise<string[]> {
  const store = await openStore(`file:${folder}`, { readOnly: true })
  const out: string[] = []
  for await (const [type, id] of store.listKeys('default')) out.push(`${type}/${id}`)
  await store.close()
  return out
}

async function doctorCodes(folder: string): Promise<string[]> {
  const store = await openStore(`file:${folder}`, { readOnly: true })
  const report = await doctor(store)
  await store.close()
  return report.sessions.flatMap(s => s.findings.map(f => f.code))
}

describe("file: folders in Baileys' next layout (.tmp/.bak companions)", () => {
  it('never lists .tmp/.bak as keys or as ignored files; a rewrite and a delete remove them; the conversation continues', async () => {
    const folder = copyFixture('alice')
    const plainKeys = await keysOf(folder)
    assert.equal(plainKeys.length, manifest.devices.alice.files - 1)
    // A stale ratchet in the session's .bak, an in-flight .tmp, and a pre-key's companions.
    writeFileSync(join(folder, `${SESSION_FILE}.bak`), readFileSync(join(folder, SESSION_FILE)))
    writeFileSync(join(folder, `${SESSION_FILE}.tmp`), '{"torn":')
    writeFileSync(join(folder, `${PRE_KEY}.bak`), readFileSync(join(folder, PRE_KEY)))
    writeFileSync(join(folder, `${PRE_KEY}.tmp`), '{')
    writeFileSync(join(folder, 'notes.txt.bak'), 'not a companion of a Baileys file') // control: foreign
    assert.deepEqual(await keysOf(folder), plainKeys)

    const store = await openStore(`file:${folder}`)
    assert.deepEqual(await store.ignoredFiles('default'), ['notes.txt.bak'])
    await assertConversationContinues(store, 'default')
    const { state } = await store.useAuthState('default')
    await state.keys.set({ 'pre-key': { '7': null } })
    await store.close() // the checkpoint writes the files in place

    const left = readdirSync(folder)
    for (const name of [`${SESSION_FILE}.bak`, `${SESSION_FILE}.tmp`, `${PRE_KEY}.bak`, `${PRE_KEY}.tmp`, PRE_KEY]) assert.ok(!left.includes(name), name)
    assert.ok(left.includes(SESSION_FILE))
    assert.ok(left.includes('notes.txt.bak'), 'a file that is no companion of ours stays')
  })

  it('a delete of a key whose file is gone removes its lone .bak (Baileys would read it back)', async () => {
    const folder = copyFixture('alice')
    renameSync(join(folder, PRE_KEY), join(folder, `${PRE_KEY}.bak`)) // a crash between Baileys' two renames
    const store = await openStore(`file:${folder}`)
    const { state } = await store.useAuthState('default')
    await state.keys.set({ 'pre-key': { '7': null } })
    await store.close()
    assert.ok(!existsSync(join(folder, `${PRE_KEY}.bak`)))
  })

  for (const damage of ['missing', 'torn'] as const) {
    it(`creds.json ${damage} with a readable creds.json.bak: opens from the .bak, doctor reports it, the next save writes creds.json`, async () => {
      const folder = copyFixture('alice')
      const creds = readFileSync(join(folder, 'creds.json'))
      renameSync(join(folder, 'creds.json'), join(folder, 'creds.json.bak'))
      if (damage === 'torn') writeFileSync(join(folder, 'creds.json'), creds.subarray(0, 40))
      assert.ok((await doctorCodes(folder)).includes('CREDS_FROM_BACKUP'))

      const store = await openStore(`file:${folder}`)
      const auth = await store.useAuthState('default')
      assert.equal(auth.isNew, false)
      assert.equal(auth.state.creds.me?.id, manifest.devices.alice.me.id)
      await auth.saveCreds()
      await store.close()

      assert.ok(!existsSync(join(folder, 'creds.json.bak')), 'the .bak went with the rewrite')
      assert.deepEqual(JSON.parse(readFileSync(join(folder, 'creds.json'), 'utf8')), JSON.parse(creds.toString('utf8')))
      assert.ok(!(await doctorCodes(folder)).includes('CREDS_FROM_BACKUP'))
      // The conversation goes on from the creds.json written by the save.
      const again = await openStore(`file:${folder}`)
      await assertConversationContinues(again, 'default')
      await again.close()
    })
  }

  for (const damage of ['missing', 'torn'] as const) {
    it(`creds.json ${damage} and creds.json.bak unreadable: CORRUPT_DATA naming both files, nothing changed`, async () => {
      const folder = copyFixture('alice')
      const creds = readFileSync(join(folder, 'creds.json'))
      writeFileSync(join(folder, 'creds.json.bak'), creds.subarray(0, 30))
      if (damage === 'missing') renameSync(join(folder, 'creds.json'), join(folder, 'elsewhere.txt'))
      else writeFileSync(join(folder, 'creds.json'), creds.subarray(0, 50))
      const before = readdirSync(folder)
        .sort()
        .map(name => [name, readFileSync(join(folder, name)).toString('base64')])
      const store = await openStore(`file:${folder}`)
      await assert.rejects(store.useAuthState('default'), (e: unknown) => {
        assert.ok(e instanceof VaultError && e.code === 'CORRUPT_DATA', String(e))
        assert.ok(e.message.includes(join(folder, 'creds.json')) && e.message.includes(join(folder, 'creds.json.bak')), e.message)
        assert.ok(!e.message.includes(creds.subarray(10, 30).toString('utf8')), 'no excerpt of the creds')
        return true
      })
      await store.close()
      const after = readdirSync(folder)
        .sort()
        .map(name => [name, readFileSync(join(folder, name)).toString('base64')])
      assert.deepEqual(after, before)
    })
  }
})
