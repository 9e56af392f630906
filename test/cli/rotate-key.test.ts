import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openStore } from '../../src/open-store.js'
import { encryptionFromEnv } from '../../src/codec/seal.js'
import { copyFixture, importBaileysFolder } from '../helpers/fixture.js'
import { runCli } from '../helpers/tools-cli.js'
import { assertConversationContinues } from '../helpers/tools-suite.js'

describe('cli: rotate-key and BAILEYS_VAULT_KEY', () => {
  it('encrypts a plaintext store, rotates to a new key, and the conversation continues with only the new key', async () => {
    const url = `sqlite:${join(mkdtempSync(join(tmpdir(), 'vault-rotate-')), 'store.db')}`
    const plain = await openStore(url)
    await importBaileysFolder(plain, copyFixture('alice'), 'alice')
    await plain.close()
    const k1 = `one:${randomBytes(32).toString('base64')}`
    const k2 = `two:${randomBytes(32).toString('base64')}`

    assert.equal((await runCli(['rotate-key', url])).code, 2, 'no key: usage error')
    // With a key configured, doctor counts what is still plaintext and points to rotate-key.
    const before = await runCli(['doctor', url, '--json'], { env: { BAILEYS_VAULT_KEY: k1 } })
    const plaintext = before.json().sessions[0].findings.find((f: any) => f.code === 'PLAINTEXT_VALUES')
    assert.ok(plaintext && plaintext.count > 40 && /rotate-key/.test(plaintext.fix), before.stdout)
    assert.equal(before.code, 1)
    const first = await runCli(['rotate-key', url, '--json'], { env: { BAILEYS_VAULT_KEY: k1 } })
    assert.equal(first.code, 0, first.stderr)
    assert.equal(first.json().complete, true)
    assert.ok(first.json().resealed > 40)

    // Without the key the creds cannot be read (reported, never replaced); with it they can.
    const without = await runCli(['inspect', url, '--session', 'alice', '--json'])
    assert.equal(without.json().summary.credsError, 'DECRYPT_FAILED')
    const withKey = await runCli(['inspect', url, '--session', 'alice', '--json'], { env: { BAILEYS_VAULT_KEY: k1 } })
    assert.equal(withKey.code, 0)
    assert.equal(withKey.json().summary.credsError, undefined)
    assert.equal(withKey.json().creds.me.id, '15550000001:0@s.whatsapp.net')

    const mid = await runCli(['doctor', url, '--json'], { env: { BAILEYS_VAULT_KEY: k2, BAILEYS_VAULT_OLD_KEYS: k1 } })
    const old = mid.json().sessions[0].findings.find((f: any) => f.code === 'OLD_KEY_VALUES')
    assert.ok(old && /"one"/.test(old.message), mid.stdout)
    const second = await runCli(['rotate-key', url], { env: { BAILEYS_VAULT_KEY: k2, BAILEYS_VAULT_OLD_KEYS: k1 } })
    assert.equal(second.code, 0, second.stderr)
    assert.match(second.stdout, /older keys can be removed/)
    const again = await runCli(['rotate-key', url, '--json'], { env: { BAILEYS_VAULT_KEY: k2 } })
    assert.equal(again.json().resealed, 0)
    const after = await runCli(['doctor', url, '--json'], { env: { BAILEYS_VAULT_KEY: k2 } })
    assert.deepEqual(
      after.json().sessions[0].findings.filter((f: any) => /PLAINTEXT|OLD_KEY/.test(f.code)),
      []
    )

    const onlyNew = await openStore(url, { encryption: encryptionFromEnv({ BAILEYS_VAULT_KEY: k2 }) })
    await assertConversationContinues(onlyNew)
    await onlyNew.close()
  })
})
