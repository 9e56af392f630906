import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import Database from 'better-sqlite3'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openStore } from '../../src/open-store.js'
import { encryptionFromEnv, deriveKeyId } from '../../src/codec/seal.js'
import { VaultError } from '../../src/core/errors.js'
import { copyFixture, importBaileysFolder, readBaileysFolder } from '../helpers/fixture.js'
import { testEncryption } from '../helpers/encryption-keys.js'
import { encryptionStatus, rotateKey } from '../../src/tools/rotate-key.js'
import { realClientSuite } from '../helpers/real-client-suite.js'
import { crashSuite } from '../helpers/crash-suite.js'

const tmpDb = () => join(mkdtempSync(join(tmpdir(), 'vault-enc-')), 'store.db')
const isVault =
  (code: string, ...parts: string[]) =>
  (e: unknown) =>
    e instanceof VaultError && e.code === code && parts.every(p => e.message.includes(p))
const rawRows = (path: string) => {
  const db = new Database(path, { readonly: true })
  const rows = db.prepare('SELECT type, id, value FROM vault_keys').all() as Array<{ type: string; id: string; value: Buffer }>
  const creds = db.prepare('SELECT value FROM vault_creds').pluck().all() as Buffer[]
  db.close()
  return { rows, creds }
}

describe('encryption at rest', () => {
  it('seals every value and the creds: no private key bytes reach the backend', async () => {
    const path = tmpDb()
    const encryption = testEncryption()
    const store = await openStore(`sqlite:${path}`, { encryption })
    const folder = copyFixture('alice')
    await importBaileysFolder(store, folder, 'alice')
    await store.close()
    const { creds } = await readBaileysFolder(folder)
    const secrets = [creds.noiseKey.private, creds.signedIdentityKey.private, creds.signedPreKey.keyPair.private].map(b => Buffer.from(b))
    const { rows, creds: credRows } = rawRows(path)
    assert.ok(rows.length > 40)
    for (const value of [...rows.map(r => r.value), ...credRows]) {
      assert.equal(value[0], 0x10, 'sealed envelope')
      for (const secret of secrets) {
        for (const needle of [secret, Buffer.from(secret.toString('base64')), Buffer.from(secret.toString('hex'))]) assert.equal(value.indexOf(needle), -1)
      }
    }
    // And it all reads back exactly.
    const again = await openStore(`sqlite:${path}`, { encryption })
    assert.deepEqual(await again.readCreds('alice'), creds)
    await again.close()
  })

  it('a tampered ciphertext, a value moved to another id, and a wrong key each give DECRYPT_FAILED; nothing is overwritten', async () => {
    const path = tmpDb()
    const encryption = testEncryption()
    const store = await openStore(`sqlite:${path}`, { encryption })
    const { state, saveCreds } = await store.useAuthState('acct')
    await saveCreds()
    await state.keys.set({ 'lid-mapping': { a: '111', b: '222' } })
    await store.close()

    const db = new Database(path)
    const valueOf = (id: string) => db.prepare(`SELECT value FROM vault_keys WHERE session = 'acct' AND id = ?`).pluck().get(id) as Buffer
    const tampered = Buffer.from(valueOf('a'))
    tampered.writeUInt8(tampered.readUInt8(tampered.length - 1) ^ 1, tampered.length - 1)
    db.prepare(`UPDATE vault_keys SET value = ? WHERE id = 'a'`).run(tampered)
    db.prepare(`UPDATE vault_keys SET value = ? WHERE id = 'b'`).run(valueOf('b'))
    db.prepare(`INSERT INTO vault_keys (session, type, id, value) VALUES ('acct', 'lid-mapping', 'c', ?)`).run(valueOf('b')) // swapped in
    db.close()

    const reopened = await openStore(`sqlite:${path}`, { encryption })
    const keys = (await reopened.useAuthState('acct')).state.keys
    await assert.rejects(keys.get('lid-mapping', ['a']), isVault('DECRYPT_FAILED', 'k2024', '"a"'))
    await assert.rejects(keys.get('lid-mapping', ['c']), isVault('DECRYPT_FAILED', '"c"'))
    assert.deepEqual(await keys.get('lid-mapping', ['b']), { b: '222' })
    await reopened.close()

    const wrongKey = await openStore(`sqlite:${path}`, { encryption: { keys: { k2024: randomBytes(32) }, current: 'k2024' } })
    await assert.rejects(wrongKey.useAuthState('acct'), isVault('DECRYPT_FAILED', 'k2024', 'acct'))
    await wrongKey.close()
    const missingKey = await openStore(`sqlite:${path}`, { encryption: { keys: { other: randomBytes(32) }, current: 'other' } })
    await assert.rejects(missingKey.useAuthState('acct'), isVault('DECRYPT_FAILED', 'k2024', 'not configured'))
    await missingKey.close()
    const noKey = await openStore(`sqlite:${path}`)
    await assert.rejects(noKey.useAuthState('acct'), isVault('DECRYPT_FAILED', 'encrypted'))
    await noKey.close()
    // The creds row is still the sealed original: no fresh device was written over it.
    const { creds } = rawRows(path)
    assert.equal(creds.length, 1)
    assert.equal(creds[0]?.[0], 0x10)
    const good = await openStore(`sqlite:${path}`, { encryption })
    assert.equal((await good.useAuthState('acct')).isNew, false)
    await good.close()
  })

  it('reads plaintext values once encryption is turned on, and seals what it writes next', async () => {
    const path = tmpDb()
    const plain = await openStore(`sqlite:${path}`)
    const folder = copyFixture('bob')
    await importBaileysFolder(plain, folder, 'bob')
    await plain.close()
    const encryption = testEncryption()
    const store = await openStore(`sqlite:${path}`, { encryption })
    const { creds } = await readBaileysFolder(folder)
    assert.deepEqual(await store.readCreds('bob'), creds)
    const { state } = await store.useAuthState('bob')
    await state.keys.set({ 'lid-mapping': { x: '1' } })
    await store.close()
    const sealed = rawRows(path).rows.filter(r => r.value[0] === 0x10)
    assert.deepEqual(
      sealed.map(r => r.id),
      ['x']
    )
  })

  it('values sealed with an old key still open while it is configured', async () => {
    const path = tmpDb()
    const old = { keys: { kold: randomBytes(32) }, current: 'kold' }
    const s1 = await openStore(`sqlite:${path}`, { encryption: old })
    await s1.write('s', { set: [['lid-mapping', 'a', 'A']] })
    await s1.close()
    const s2 = await openStore(`sqlite:${path}`, { encryption: { keys: { ...old.keys, knew: randomBytes(32) }, current: 'knew' } })
    assert.deepEqual(Object.fromEntries(await s2.readKeys('s', 'lid-mapping', ['a'])), { a: 'A' })
    await s2.close()
  })

  it('rotate-key re-seals plaintext and old-key values under the current key, resumably; then the old key can go', async () => {
    const path = tmpDb()
    const plain = await openStore(`sqlite:${path}`)
    await importBaileysFolder(plain, copyFixture('alice'), 'alice')
    await plain.close()
    const kold = randomBytes(32)
    const knew = randomBytes(32)
    const old = await openStore(`sqlite:${path}`, { encryption: { keys: { kold }, current: 'kold' } })
    await old.write('alice', { set: [['lid-mapping', 'extra', '123']] })
    await old.close()

    const rotating = await openStore(`sqlite:${path}`, { encryption: { keys: { kold, knew }, current: 'knew' } })
    const before = await encryptionStatus(rotating, 'alice')
    assert.equal(before.sealedBy.kold, 1)
    assert.ok(before.plaintext > 40)
    // Interrupted after the first batch: the next run finishes the job.
    let calls = 0
    await assert.rejects(
      rotateKey(rotating, {
        batchSize: 10,
        onProgress: () => {
          if (++calls === 1) throw new Error('interrupted')
        }
      }),
      /interrupted/
    )
    const partial = await encryptionStatus(rotating, 'alice')
    assert.equal(partial.sealedBy.knew, 10)
    const done = await rotateKey(rotating, { batchSize: 10 })
    assert.equal(done.complete, true)
    assert.equal(done.resealed, before.plaintext + 1 - 10)
    const after = await encryptionStatus(rotating, 'alice')
    assert.deepEqual(after, { plaintext: 0, sealedBy: { knew: before.plaintext + 1 } })
    assert.equal((await rotateKey(rotating)).resealed, 0, 'a second run has nothing to do')
    await rotating.close()

    // Only the new key now: everything opens, and the conversation state is intact.
    const newOnly = await openStore(`sqlite:${path}`, { encryption: { keys: { knew }, current: 'knew' } })
    const { creds, keys } = await readBaileysFolder(copyFixture('alice'))
    assert.deepEqual(await newOnly.readCreds('alice'), creds)
    for (const [type, id, value] of keys) assert.deepEqual((await newOnly.readKeys('alice', type, [id])).get(id), value)
    await newOnly.close()
    await assert.rejects(rotateKey(await openStore('memory:')), isVault('INVALID_ARGUMENT', 'encryption'))
  })

  it('rejects keys of the wrong size and an unknown current key id before opening anything', async () => {
    await assert.rejects(openStore('memory:', { encryption: { keys: { a: randomBytes(16) }, current: 'a' } }), isVault('INVALID_ARGUMENT', '32 bytes'))
    await assert.rejects(openStore('memory:', { encryption: { keys: { a: randomBytes(32) }, current: 'b' } }), isVault('INVALID_ARGUMENT', '"b"'))
  })

  it('reads BAILEYS_VAULT_KEY with a derived or given key id, plus old keys', () => {
    const k1 = randomBytes(32).toString('base64')
    const k2 = randomBytes(32).toString('base64')
    assert.equal(encryptionFromEnv({}), undefined)
    assert.deepEqual(encryptionFromEnv({ BAILEYS_VAULT_KEY: k1 }), { keys: { [deriveKeyId(k1)]: k1 }, current: deriveKeyId(k1) })
    assert.deepEqual(encryptionFromEnv({ BAILEYS_VAULT_KEY: `main:${k1}`, BAILEYS_VAULT_OLD_KEYS: `prev:${k2}` }), {
      keys: { main: k1, prev: k2 },
      current: 'main'
    })
  })
})

const encryption = testEncryption()
realClientSuite('sqlite, encrypted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vault-enc-rc-'))
  return { url: `sqlite:${join(dir, 'store.db')}`, options: { encryption }, cleanup: async () => rmSync(dir, { recursive: true, force: true }) }
})
crashSuite('sqlite, encrypted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vault-enc-crash-'))
  return { url: `sqlite:${join(dir, 'store.db')}`, options: { encryption }, cleanup: async () => rmSync(dir, { recursive: true, force: true }) }
})
