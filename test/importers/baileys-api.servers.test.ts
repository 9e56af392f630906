/**
 * Moving in from fazer-ai/baileys-api: its Redis hash `@baileys-api:connections:<phone>:authState`
 * (fields creds, `<type>-<id>`, metadata), written as its useRedisAuthState writes it
 * (test/helpers/import-layouts.ts), read in place by `baileys-api+redis://…`. The key names are
 * fixed, so each test removes the hashes it wrote.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, afterEach, describe, it } from 'node:test'
import { openStore } from '../../src/open-store.js'
import { isVaultError } from '../../src/core/errors.js'
import { copyFixture, fixtureFacts } from '../helpers/fixture.js'
import { assertConversationContinues } from '../helpers/conversation.js'
import { runCli } from '../helpers/tools-cli.js'
import { requireEnv } from '../helpers/servers.js'
import { assertLinkedDeviceMovesIn } from '../helpers/linked-device-moves-in.js'
import { useSimulator } from '../helpers/use-simulator.js'
import { allSessions, baileysApiKey, baileysFolderTexts, hashSnapshot, migrateUrls, withRedis, writeBaileysApiHash } from '../helpers/import-layouts.js'

const dir = mkdtempSync(join(tmpdir(), 'vault-import-baileys-api-'))
after(() => rmSync(dir, { recursive: true, force: true }))
const written: string[] = []
afterEach(async () => {
  if (written.length > 0) await withRedis(c => c.del(...written.splice(0)))
})

const ALICE = fixtureFacts('alice')
const URL_ = requireEnv('VAULT_TEST_REDIS_URL').replace(/^redis/, 'baileys-api+redis')
let n = 0
const sqliteUrl = () => `sqlite:${join(dir, `target-${++n}.db`)}`

async function baileysApiSource(folder: string, phone: string) {
  const texts = await baileysFolderTexts(folder)
  written.push(baileysApiKey(phone))
  await writeBaileysApiHash({ phone, keys: texts.keys, credsText: texts.creds })
  return { texts, snapshot: () => hashSnapshot(baileysApiKey(phone)) }
}

describe('baileys-api+redis:// importer', () => {
  it('alice (every key type) migrates without its metadata, the conversation continues, the hash is unchanged; ls reads it, drop refuses', async () => {
    const phone = '+15550000001'
    const source = await baileysApiSource(copyFixture('alice'), phone)
    const before = await source.snapshot()
    const to = sqliteUrl()
    const run = await runCli(['migrate', URL_, to, '--json'])
    assert.equal(run.code, 0, run.stderr)
    const s = run.json().sessions[0]
    assert.equal(s.session, phone, "the session is baileys-api's connection id")
    assert.deepEqual(s.counts, ALICE.byType, 'keys only: metadata is not auth state')
    assert.equal(s.verified, ALICE.keys + 1)
    const target = await openStore(to)
    try {
      await assertConversationContinues(target, phone)
    } finally {
      await target.close()
    }
    const ls = await runCli(['ls', URL_, '--json'])
    assert.equal(ls.code, 0, ls.stderr)
    assert.deepEqual(
      ls.json().sessions.map((x: { session: string; phone: string }) => [x.session, x.phone]),
      [[phone, '15550000001']]
    )
    assert.equal((await runCli(['inspect', URL_, '--json'])).code, 0)
    const drop = await runCli(['drop', URL_, '--session', phone, '--yes'])
    assert.equal(drop.code, 2)
    assert.match(drop.stderr, /another project's store: baileys-vault only reads it/)
    assert.deepEqual(await source.snapshot(), before, 'the source is read, never written')
  })

  it('a key that is not JSON and an unknown field are refused by name before anything is written', async () => {
    const phone = '+15550000009'
    const source = await baileysApiSource(copyFixture('alice'), phone)
    const [type, id, text] = [...source.texts.keys].sort(([ta, ia], [tb, ib]) => (ta === tb ? (ia < ib ? -1 : 1) : ta < tb ? -1 : 1)).at(-1)!
    await withRedis(c => c.hset(baileysApiKey(phone), `${type}-${id}`, text.slice(0, text.length - 3)))
    const to = sqliteUrl()
    await assert.rejects(migrateUrls(URL_, to, { batchSize: 5 }), (err: unknown) => {
      assert.ok(isVaultError(err, 'CORRUPT_DATA'), String(err))
      assert.ok(err.message.includes(`session "${phone}" ${type} "${id}"`), err.message)
      return true
    })
    assert.deepEqual(await allSessions(to), [], 'no session, not even a staging copy, on the target')

    await withRedis(c => c.hset(baileysApiKey(phone), `${type}-${id}`, text, 'chats', '[]'))
    const unknown = await runCli(['migrate', URL_, to, '--json'])
    assert.equal(unknown.code, 2)
    assert.equal(unknown.json().error.code, 'UNSUPPORTED_FORMAT')
    assert.match(unknown.json().error.message, /the field "chats"/)
    assert.deepEqual(await allSessions(to), [])
  })

  it('a ?prefix= is refused: its key names are fixed', async () => {
    const run = await runCli(['ls', `${URL_.replace(/\/$/, '')}?prefix=x`])
    assert.equal(run.code, 2)
    assert.match(run.stderr, /key names are fixed/)
  })
})

describe('baileys-api+redis://: a device linked through makeWASocket', () => {
  const sim = useSimulator()

  it('logs in from the migrated store without a QR code, and messages decrypt both ways', { timeout: 60_000 }, async () => {
    await assertLinkedDeviceMovesIn({
      sim,
      contactNumber: '15550005555',
      folder: join(dir, 'linked'),
      label: 'baileys-api',
      writeSource: async ({ device, folder }) => {
        const phone = `+${device.jid.split(/[:@]/)[0]}`
        await baileysApiSource(folder, phone)
        return { url: URL_, session: phone }
      },
      target: sqliteUrl()
    })
  })
})
