import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable, type Transform } from 'node:stream'
import { gunzipSync, gzipSync } from 'node:zlib'
import { after, before, describe, it } from 'node:test'
import { openStore } from '../../src/open-store.js'
import type { AuthStore as Store } from '../../src/auth/auth-store.js'
import { sealedCodec } from '../../src/store/value-codec.js'
import { isVaultError } from '../../src/core/errors.js'
import type { EncryptionOptions } from '../../src/codec/seal.js'
import { backup } from '../../src/tools/backup.js'
import { restore, verifyBackup } from '../../src/tools/restore.js'
import { SEAL_CHUNK, SEAL_MAGIC, newSealHeader, openStream, readSealHeader, sealStream, unwrapDataKey } from '../../src/tools/backup-seal.js'
import { copyFixture, fixtureFacts, importBaileysFolder, readBaileysFolder } from '../helpers/fixture.js'
import { testEncryption } from '../helpers/encryption-keys.js'
import { assertConversationContinues } from '../helpers/tools-suite.js'
import { runCli } from '../helpers/tools-cli.js'
import { rawDriver } from '../helpers/raw-driver.js'

const dir = mkdtempSync(join(tmpdir(), 'vault-sealed-backup-'))
after(() => rmSync(dir, { recursive: true, force: true }))
let n = 0
const path = (label: string) => join(dir, `${label}-${++n}`)
const memoryUrl = () => `memory:sealed-backup-${process.pid}-${++n}`
const ALICE = fixtureFacts('alice')
const KEYS = ALICE.keys

const opened: Store[] = []
after(async () => {
  for (const s of opened) await s.close()
})
async function open(url: string, options: Parameters<typeof openStore>[1] = {}): Promise<Store> {
  const store = await openStore(url, options)
  opened.push(store)
  return store
}

/** The fixture's alice in an encrypted SQLite store. */
async function encryptedAlice(encryption: EncryptionOptions): Promise<Store> {
  const store = await open(`sqlite:${path('source')}.db`, { encryption })
  await importBaileysFolder(store, copyFixture('alice'), 'alice')
  return store
}

async function keyCount(store: Store, session = 'alice'): Promise<number> {
  let count = 0
  for await (const _ of store.listKeys(session)) count++
  return count
}

/** Nothing of alice landed on the target. */
async function assertNothingWritten(store: Store, label: string): Promise<void> {
  assert.equal(await keyCount(store), 0, `${label}: no key written`)
  assert.equal(await rawDriver(store).getCreds('alice'), undefined, `${label}: no creds written`)
  const sessions: string[] = []
  for await (const s of store.sessions()) sessions.push(s)
  assert.deepEqual(sessions, [], `${label}: no session`)
}

const through = async (transform: Transform, input: Buffer) => Buffer.concat(await Readable.from([input]).pipe(transform).toArray())

/** Decrypts a sealed file with the test's keys (what an attacker holding the key could do). */
async function unseal(file: string, encryption: EncryptionOptions): Promise<Buffer> {
  const header = (await readSealHeader(file))!
  const dataKey = unwrapDataKey(file, header, { encryption })
  return through(openStream(file, header, dataKey), readFileSync(file).subarray(header.bytes.length))
}

/** Seals arbitrary plaintext as a backup file would be sealed (authentic, whatever it holds). */
async function seal(plain: Buffer, encryption: EncryptionOptions, chunkSize?: number): Promise<Buffer> {
  const { header, dataKey } = newSealHeader(sealedCodec(encryption), chunkSize)
  return through(sealStream(header, dataKey), plain)
}

let secrets: Array<[label: string, text: string | Buffer]> = []
before(async () => {
  const { creds, keys } = await readBaileysFolder(copyFixture('alice'))
  const raw: Array<[string, Uint8Array]> = [
    ['noiseKey', creds.noiseKey.private],
    ['signedIdentityKey', creds.signedIdentityKey.private],
    ['signedPreKey', creds.signedPreKey.keyPair.private],
    ['pairingEphemeralKeyPair', creds.pairingEphemeralKeyPair.private],
    ['advSecretKey', Buffer.from(creds.advSecretKey, 'base64')]
  ]
  for (const [type, id, value] of keys as Array<[string, string, any]>) if (type === 'pre-key') raw.push([`pre-key ${id}`, value.private])
  secrets = raw.flatMap(([label, b]): Array<[string, string | Buffer]> => [
    [`${label} (base64)`, Buffer.from(b).toString('base64')],
    [`${label} (hex)`, Buffer.from(b).toString('hex')],
    [`${label} (raw bytes)`, Buffer.from(b)]
  ])
})

function assertNoSecrets(bytes: Buffer, label: string): void {
  assert.ok(secrets.length > 40)
  const latin1 = bytes.toString('latin1')
  for (const [what, secret] of secrets) {
    if (typeof secret === 'string') assert.equal(latin1.includes(secret), false, `${label}: ${what} found in the file`)
    else assert.equal(bytes.includes(secret), false, `${label}: ${what} found in the file`)
  }
}

describe('sealed backups (library)', () => {
  it('an encrypted store is backed up sealed by default: no private key in the file, not even gzip', async () => {
    const encryption = testEncryption()
    const store = await encryptedAlice(encryption)
    const file = path('sealed.vault')
    const result = await backup(store, file)
    assert.equal(result.sealed, true)
    assert.equal(result.keyId, 'k2024')
    assert.equal(result.keys, KEYS)
    const bytes = readFileSync(file)
    assert.equal(result.bytes, bytes.length)
    assert.equal(statSync(file).mode & 0o777, 0o600)
    assert.deepEqual(bytes.subarray(0, 8), SEAL_MAGIC, 'starts with the documented magic')
    assert.equal(bytes[8], 1, 'envelope version 1')
    assert.ok(bytes.includes(Buffer.from('k2024')), 'the key id is readable in the header')
    assert.throws(() => gunzipSync(bytes), 'the file is not a gzip stream')
    assertNoSecrets(bytes, 'sealed backup')
    // The plaintext inside is the ordinary backup: same checksum as the result reports.
    const inner = gunzipSync(await unseal(file, encryption))
      .toString('utf8')
      .split('\n')
    assert.equal(JSON.parse(inner[0] ?? '').format, 'baileys-vault-backup')
    assert.equal(JSON.parse(inner.at(-2)!).sha256, result.sha256)
    // The control: a plaintext export of the same store does hold the keys.
    const plain = path('plain.vault')
    const p = await backup(store, plain, { plaintext: true })
    assert.equal(p.sealed, false)
    assert.equal(p.keyId, undefined)
    assert.throws(() => assertNoSecrets(gunzipSync(readFileSync(plain)), 'plaintext'), /found in the file/)

    const verified = await verifyBackup(file, { encryption })
    assert.equal(verified.sealed, true)
    assert.equal(verified.keyId, 'k2024')
    assert.deepEqual(verified.trailer.sessions, { alice: { creds: 1, keys: KEYS } })
    let lines = 0
    const unsealed = await verifyBackup(plain, { onLine: () => lines++ })
    assert.equal(unsealed.sealed, false)
    assert.equal(lines, KEYS + 1, 'one call per content line: creds and every key')
  })

  it("restore into a plaintext store and into an encrypted store of another driver: alice's conversation continues", async () => {
    const encryption = testEncryption()
    const store = await encryptedAlice(encryption)
    const file = path('roundtrip.vault')
    await backup(store, file)

    // A plaintext memory store: the key comes with restore's encryption option.
    const plain = await open(memoryUrl())
    const r1 = await restore(file, plain, { encryption })
    assert.equal(r1.ok, true, JSON.stringify(r1.sessions[0]?.mismatches))
    assert.equal(r1.sealed, true)
    assert.equal(r1.keyId, 'k2024')
    assert.equal(r1.sessions[0]?.verified, KEYS + 1)
    assert.equal(plain.protectionOf((await rawDriver(plain).getCreds('alice'))!).sealed, false, 'values re-encoded with the target codec (plaintext)')
    await assertConversationContinues(plain)

    // An encrypted file store with another current key: the backup's key is one of its old keys,
    // so the target store's own codec opens the backup; values are sealed under the target's key.
    const targetEncryption: EncryptionOptions = {
      keys: { knew: randomBytes(32), k2024: encryption.keys.k2024 ?? assert.fail('the test key k2024') },
      current: 'knew'
    }
    const sealedTarget = await open(`file:${path('restored-auth')}`, { encryption: targetEncryption })
    const r2 = await restore(file, sealedTarget)
    assert.equal(r2.ok, true, JSON.stringify(r2.sessions[0]?.mismatches))
    assert.deepEqual(sealedTarget.protectionOf((await rawDriver(sealedTarget).getCreds('alice'))!), { sealed: true, keyId: 'knew' })
    await assertConversationContinues(sealedTarget)
  })

  it('a plaintext store is sealed when given encryption; plaintext and encryption together are refused', async () => {
    const store = await open(memoryUrl())
    await importBaileysFolder(store, copyFixture('alice'), 'alice')
    const encryption = testEncryption('kbackup')
    const file = path('given-key.vault')
    const result = await backup(store, file, { encryption })
    assert.equal(result.sealed, true)
    assert.equal(result.keyId, 'kbackup')
    assertNoSecrets(readFileSync(file), 'sealed with a given key')
    await assert.rejects(backup(store, path('both.vault'), { encryption, plaintext: true }), (e: unknown) => isVaultError(e, 'INVALID_ARGUMENT'))
    const plain = await backup(store, path('plain-store.vault'))
    assert.equal(plain.sealed, false, 'a plaintext store without a key writes a plaintext file, as before')
  })

  it('a missing or wrong key is refused with DECRYPT_FAILED, and nothing is written', async () => {
    const encryption = testEncryption()
    const store = await encryptedAlice(encryption)
    const file = path('keys.vault')
    await backup(store, file)
    const cases: Array<[string, () => Promise<unknown>, RegExp]> = [
      ['no key at all', async () => restore(file, await open(memoryUrl())), /is encrypted \(sealed with key "k2024"\) and no encryption key is configured/],
      [
        'only other keys',
        async () => restore(file, await open(memoryUrl()), { encryption: testEncryption('kother') }),
        /sealed with key "k2024", which is not configured/
      ],
      [
        'same key id, other bytes',
        async () => restore(file, await open(memoryUrl()), { encryption: { keys: { k2024: randomBytes(32) }, current: 'k2024' } }),
        /does not open it/
      ],
      [
        'a target store with other keys',
        async () => restore(file, await open(memoryUrl(), { encryption: testEncryption('kother') })),
        /which is not configured/
      ]
    ]
    for (const [label, run, message] of cases) {
      const before = opened.length
      await assert.rejects(
        run(),
        (e: unknown) => isVaultError(e, 'DECRYPT_FAILED') && message.test((e as Error).message) && /Nothing was restored/.test((e as Error).message),
        label
      )
      await assertNothingWritten(opened[before] ?? assert.fail('a store was opened'), label)
    }
    await assert.rejects(verifyBackup(file), (e: unknown) => isVaultError(e, 'DECRYPT_FAILED'))
  })

  it('a flipped byte, a truncated file, or a damaged header is refused before anything is written', async () => {
    const encryption = testEncryption()
    const store = await encryptedAlice(encryption)
    const file = path('damage.vault')
    await backup(store, file)
    const good = readFileSync(file)
    const headerLength = (await readSealHeader(file))!.bytes.length
    const flip = (at: number) => Buffer.from(good.map((b, i) => (i === at ? b ^ 0x01 : b)))
    const cases: Array<[string, Buffer, string, RegExp]> = [
      ['flipped ciphertext byte', flip(headerLength + 100), 'CORRUPT_DATA', /does not authenticate|fails authentication/],
      ['flipped tag byte', flip(good.length - 1), 'CORRUPT_DATA', /does not authenticate/],
      ['flipped byte in the wrapped key', flip(headerLength - 5), 'DECRYPT_FAILED', /does not open it/],
      ['flipped chunk size in the header', flip(12), 'DECRYPT_FAILED', /does not open it/],
      ['truncated to 60%', good.subarray(0, Math.floor(good.length * 0.6)), 'CORRUPT_DATA', /truncated/],
      ['last byte missing', good.subarray(0, good.length - 1), 'CORRUPT_DATA', /truncated/],
      ['tag missing', good.subarray(0, good.length - 16), 'CORRUPT_DATA', /truncated/],
      ['only the header', good.subarray(0, headerLength), 'CORRUPT_DATA', /right after the header/],
      ['header cut', good.subarray(0, 12), 'CORRUPT_DATA', /header is truncated/],
      ['bytes appended', Buffer.concat([good, Buffer.from('x')]), 'CORRUPT_DATA', /does not authenticate/]
    ]
    for (const [label, bytes, code, message] of cases) {
      const bad = path(label.replace(/\W+/g, '-'))
      writeFileSync(bad, bytes)
      const target = await open(memoryUrl(), { encryption })
      await assert.rejects(restore(bad, target), (e: unknown) => isVaultError(e, code as any) && message.test((e as Error).message), label)
      await assertNothingWritten(target, label)
    }
  })

  it('a header whose file key is not sealed (forged without the store key) is refused', async () => {
    const encryption = testEncryption()
    const store = await encryptedAlice(encryption)
    const file = path('forge-source.vault')
    await backup(store, file)
    const content = await unseal(file, encryption)
    // An attacker without the key: a plaintext envelope (0x01 + BufferJSON) holding a key of their
    // choice would decode through a store codec (which still reads plaintext values), so the
    // reader must insist on a sealed envelope.
    const forgedKey = randomBytes(32)
    // (Padded with JSON whitespace to the length of a real wrapped key: only the format byte tells.)
    const wrapped = Buffer.concat([Buffer.from([0x01]), Buffer.from(JSON.stringify({ type: 'Buffer', data: forgedKey.toString('base64') }).padEnd(300, ' '))])
    const fixed = Buffer.alloc(15)
    SEAL_MAGIC.copy(fixed)
    fixed[8] = 1
    fixed.writeUInt32BE(SEAL_CHUNK, 9)
    fixed.writeUInt16BE(wrapped.length, 13)
    const header = { bytes: Buffer.concat([fixed, wrapped]), keyId: '', chunkSize: SEAL_CHUNK }
    const forged = path('forged.vault')
    writeFileSync(forged, await through(sealStream(header, forgedKey), content))
    const target = await open(memoryUrl(), { encryption })
    await assert.rejects(
      restore(forged, target),
      (e: unknown) => isVaultError(e, 'CORRUPT_DATA') && /does not hold a sealed file key/.test((e as Error).message)
    )
    await assertNothingWritten(target, 'forged')
  })

  it('many chunks: cut at a chunk boundary, chunks swapped or dropped are refused', async () => {
    const encryption = testEncryption()
    const store = await encryptedAlice(encryption)
    // Random pre-keys do not compress: the file spans several 64 KiB chunks.
    const set: Array<[string, string, unknown]> = []
    for (let i = 0; i < 3000; i++) set.push(['pre-key', String(100000 + i), { public: randomBytes(33), private: randomBytes(32) }])
    await store.write('alice', { set })
    const file = path('chunks.vault')
    await backup(store, file)
    const good = readFileSync(file)
    const h = (await readSealHeader(file))!.bytes.length
    const chunk = SEAL_CHUNK + 16
    const chunks = Math.ceil((good.length - h) / chunk)
    assert.ok(chunks >= 4, `${chunks} chunks`)
    const part = (i: number) => good.subarray(h + i * chunk, h + (i + 1) * chunk)
    const endMissing = /last encrypted chunk \(#\d+, from byte \d+\) does not authenticate as the end of the file/
    const moved = /encrypted chunk #1 \(bytes \d+–\d+\) fails authentication/
    const cases: Array<[string, Buffer, RegExp]> = [
      ['cut after chunk 1', good.subarray(0, h + chunk), endMissing],
      ['cut after chunk 2', good.subarray(0, h + 2 * chunk), endMissing],
      ['chunks 1 and 2 swapped', Buffer.concat([good.subarray(0, h + chunk), part(2), part(1), good.subarray(h + 3 * chunk)]), moved],
      ['chunk 1 dropped', Buffer.concat([good.subarray(0, h + chunk), good.subarray(h + 2 * chunk)]), moved],
      ['chunk 0 repeated', Buffer.concat([good.subarray(0, h + chunk), part(0), good.subarray(h + chunk)]), moved]
    ]
    for (const [label, bytes, message] of cases) {
      const bad = path(label.replace(/\W+/g, '-'))
      writeFileSync(bad, bytes)
      const target = await open(memoryUrl(), { encryption })
      // Refused by the chunk authentication itself, not only later by gzip's CRC.
      await assert.rejects(restore(bad, target), (e: unknown) => isVaultError(e, 'CORRUPT_DATA') && message.test((e as Error).message), label)
      await assertNothingWritten(target, label)
    }
    const target = await open(memoryUrl(), { encryption })
    const r = await restore(file, target)
    assert.equal(r.ok, true)
    assert.equal(r.keys, KEYS + 3000)
  })

  it('authentic but inconsistent content (sealed with the right key) still fails the checksum and counts', async () => {
    const encryption = testEncryption()
    const store = await encryptedAlice(encryption)
    const file = path('inner.vault')
    await backup(store, file)
    const text = gunzipSync(await unseal(file, encryption)).toString('utf8')
    const cases: Array<[string, string, RegExp]> = [
      ['changed value', text.replace(`"nextPreKeyId":${ALICE.nextPreKeyId}`, `"nextPreKeyId":${ALICE.nextPreKeyId + 1}`), /SHA-256 checksum does not match/],
      ['lines removed', text.split('\n').slice(0, 30).join('\n') + '\n', /end marker is missing/]
    ]
    for (const [label, content, message] of cases) {
      const bad = path(label.replace(/\W+/g, '-'))
      // Small chunks: this also reads a many-chunk file written with another chunk size.
      writeFileSync(bad, await seal(gzipSync(content), encryption, 1000))
      const target = await open(memoryUrl(), { encryption })
      await assert.rejects(restore(bad, target), (e: unknown) => isVaultError(e, 'CORRUPT_DATA') && message.test((e as Error).message), label)
      await assertNothingWritten(target, label)
    }
    const resealed = path('resealed.vault')
    writeFileSync(resealed, await seal(gzipSync(text), encryption, 1000))
    assert.equal((await restore(resealed, await open(memoryUrl(), { encryption }))).ok, true, 'the unchanged content, resealed, restores')
  })
})

describe('sealed backups (CLI)', () => {
  const key = randomBytes(32).toString('base64')
  const env = { BAILEYS_VAULT_KEY: `kcli:${key}` }
  let source = ''
  let sealed = ''
  before(async () => {
    const memory = memoryUrl()
    const store = await open(memory)
    await importBaileysFolder(store, copyFixture('alice'), 'alice')
    source = `sqlite:${path('cli-source')}.db`
    const migrated = await runCli(['migrate', memory, source], { env })
    assert.equal(migrated.code, 0, migrated.stderr)
    sealed = path('cli.vault')
    const run = await runCli(['backup', source, sealed], { env })
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stdout, /sealed: AES-256-GCM under key "kcli"/)
    assert.equal(run.stderr, '', 'no warning for a sealed backup')
  })

  it('backup with BAILEYS_VAULT_KEY is sealed by default; restore needs the key', async () => {
    const bytes = readFileSync(sealed)
    assert.deepEqual(bytes.subarray(0, 8), SEAL_MAGIC)
    assertNoSecrets(bytes, 'CLI backup')
    const json = await runCli(['backup', source, path('cli-json.vault'), '--json'], { env })
    assert.equal(json.json().sealed, true)
    assert.equal(json.json().keyId, 'kcli')

    const to = path('cli-restored.db')
    const run = await runCli(['restore', sealed, `sqlite:${to}`], { env })
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stdout, /backup file verified: decrypted with key "kcli", every chunk authentic/)
    assert.match(run.stdout, new RegExp(`alice: restored ${KEYS} keys \\+ creds`))
    const store = await open(`sqlite:${to}`, { encryption: { keys: { kcli: key }, current: 'kcli' } })
    assert.deepEqual(store.protectionOf((await rawDriver(store).getCreds('alice'))!), { sealed: true, keyId: 'kcli' })
    await assertConversationContinues(store)
  })

  it('restore with the backup key among BAILEYS_VAULT_OLD_KEYS re-seals under the new key', async () => {
    const newKey = randomBytes(32).toString('base64')
    const to = path('cli-rotated.db')
    const run = await runCli(['restore', sealed, `sqlite:${to}`, '--json'], {
      env: { BAILEYS_VAULT_KEY: `knew:${newKey}`, BAILEYS_VAULT_OLD_KEYS: env.BAILEYS_VAULT_KEY }
    })
    assert.equal(run.code, 0, run.stderr)
    assert.equal(run.json().sealed, true)
    assert.equal(run.json().keyId, 'kcli')
    const store = await open(`sqlite:${to}`, { encryption: { keys: { knew: newKey }, current: 'knew' } })
    await assertConversationContinues(store)
  })

  it('without the key, with a wrong key, or damaged: exit 2, and the target store is not even created', async () => {
    const bytes = readFileSync(sealed)
    const damagedFile = path('cli-flipped.vault')
    writeFileSync(damagedFile, Buffer.from(bytes.map((b, i) => (i === bytes.length - 20 ? b ^ 0x80 : b))))
    const truncatedFile = path('cli-truncated.vault')
    writeFileSync(truncatedFile, bytes.subarray(0, bytes.length - 100))
    const other = randomBytes(32).toString('base64')
    const cases: Array<[string, string, NodeJS.ProcessEnv, string, RegExp]> = [
      ['no key', sealed, {}, 'DECRYPT_FAILED', /no encryption key is configured/],
      ['another key', sealed, { BAILEYS_VAULT_KEY: other }, 'DECRYPT_FAILED', /sealed with key "kcli", which is not configured/],
      ['wrong bytes for kcli', sealed, { BAILEYS_VAULT_KEY: `kcli:${other}` }, 'DECRYPT_FAILED', /does not open it/],
      ['flipped byte', damagedFile, env, 'CORRUPT_DATA', /damaged/],
      ['truncated', truncatedFile, env, 'CORRUPT_DATA', /truncated/]
    ]
    for (const [label, file, runEnv, code, message] of cases) {
      const target = path('never-created.db')
      const run = await runCli(['restore', file, `sqlite:${target}`, '--json'], { env: runEnv })
      assert.equal(run.code, 2, label)
      assert.equal(run.json().error.code, code, label)
      assert.match(run.json().error.message, message, label)
      assert.match(run.stderr + run.json().error.message, /Nothing was restored/, label)
      assert.equal(existsSync(target), false, `${label}: the target store is not created`)
    }
  })

  it('--plaintext exports an unencrypted file with a warning; restore --plaintext writes a plaintext store', async () => {
    const plainFile = path('cli-plaintext.vault')
    const run = await runCli(['backup', source, plainFile, '--plaintext'], { env })
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stderr, /^warning: --plaintext: .* is NOT encrypted/)
    assert.match(run.stdout, /not encrypted: the file holds the account's private keys in the clear/)
    const text = gunzipSync(readFileSync(plainFile)).toString('utf8')
    assert.equal(JSON.parse(text.split('\n')[0] ?? '').format, 'baileys-vault-backup')
    // A plaintext file restores without any key.
    const plainTarget = `sqlite:${path('cli-from-plaintext')}.db`
    assert.equal((await runCli(['restore', plainFile, plainTarget])).code, 0)
    await assertConversationContinues(await open(plainTarget))

    // A sealed backup into a store written without encryption: the key only opens the file.
    const to = `sqlite:${path('cli-plain-target')}.db`
    const restored = await runCli(['restore', sealed, to, '--plaintext'], { env })
    assert.equal(restored.code, 0, restored.stderr)
    assert.match(restored.stderr, /^warning: --plaintext: .* is written unencrypted/)
    const store = await open(to)
    assert.equal(store.protectionOf((await rawDriver(store).getCreds('alice'))!).sealed, false)
    await assertConversationContinues(store)
  })
})
