import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Curve, initAuthCreds, useMultiFileAuthState } from '@whiskeysockets/baileys'
import { openStore } from '../../src/open-store.js'
import type { Store } from '../../src/store/store.js'
import { doctor } from '../../src/tools/doctor.js'
import { verifySignature } from '../../src/tools/signal.js'
import { aliceSource } from '../helpers/tools-suite.js'
import { copyFixture, fixtureFacts } from '../helpers/fixture.js'
import { runCli } from '../helpers/tools-cli.js'

/** alice in a memory store, with her creds changed by `edit` (to damage them on purpose). */
async function aliceWith(edit?: (creds: any) => void): Promise<{ store: Store; url: string }> {
  const source = await aliceSource()
  if (edit) {
    const creds = (await source.store.readCreds('alice'))!
    edit(creds)
    await source.store.write('alice', { creds })
  }
  return source
}

const flip = (bytes: Uint8Array, at = 10) => {
  const copy = Buffer.from(bytes)
  copy.writeUInt8(copy.readUInt8(at) ^ 0x01, at)
  return copy
}
/** creds.account keeps protobuf JSON: bytes as base64 strings after a reload. */
const flipB64 = (value: string | Uint8Array, at = 10) => flip(typeof value === 'string' ? Buffer.from(value, 'base64') : value, at).toString('base64')

const codes = (run: { json(): any }) => run.json().sessions.flatMap((s: any) => s.findings.map((f: any) => f.code))

/** alice's fixture folder in numbers (the generator's output, not constants). */
const ALICE = fixtureFacts('alice')

describe('baileys-vault doctor', () => {
  it('the fixture alice is healthy: exit 0, no findings', async () => {
    const { url } = await aliceWith()
    const run = await runCli(['doctor', url])
    assert.equal(run.code, 0, run.stdout + run.stderr)
    assert.match(run.stdout, new RegExp(`alice {2}healthy {2}\\(${ALICE.keys} keys\\)`))
    assert.match(run.stdout, /no problems/)
    const json = await runCli(['doctor', url, '--json'])
    assert.deepEqual(json.json().sessions[0]?.findings, [])
    assert.equal(json.json().ok, true)
  })

  it("rejects a flipped byte in signedPreKey.signature (where Baileys' Curve.verify says true)", async () => {
    let creds: any
    const { url } = await aliceWith(c => {
      c.signedPreKey.signature = flip(c.signedPreKey.signature)
      creds = c
    })
    const signed = Buffer.concat([Buffer.from([5]), creds.signedPreKey.keyPair.public])
    assert.equal(Curve.verify(creds.signedIdentityKey.public, signed, creds.signedPreKey.signature), true, "Baileys' wrapper cannot see it")
    assert.equal(verifySignature(creds.signedIdentityKey.public, signed, creds.signedPreKey.signature), false)

    const run = await runCli(['doctor', url])
    assert.equal(run.code, 1)
    assert.match(run.stdout, /error {3}SIGNED_PRE_KEY_SIGNATURE_INVALID: The signature of signed pre-key 1 is not valid/)
    assert.match(run.stdout, /fix: Restore the creds from a backup/)
    assert.deepEqual(codes(await runCli(['doctor', url, '--json'])), ['SIGNED_PRE_KEY_SIGNATURE_INVALID'])
  })

  it('rejects a flipped byte in account.accountSignature, and in account.deviceSignature', async () => {
    const a = await aliceWith(c => (c.account.accountSignature = flipB64(c.account.accountSignature)))
    const run = await runCli(['doctor', a.url, '--json'])
    assert.equal(run.code, 1)
    assert.deepEqual(codes(run), ['ACCOUNT_SIGNATURE_INVALID'])

    const d = await aliceWith(c => (c.account.deviceSignature = flipB64(c.account.deviceSignature, 40)))
    assert.deepEqual(codes(await runCli(['doctor', d.url, '--json'])), ['DEVICE_SIGNATURE_INVALID'])

    // The account signature covers the device details and our identity key.
    const details = await aliceWith(c => (c.account.details = flipB64(c.account.details, 3)))
    const got = codes(await runCli(['doctor', details.url, '--json']))
    assert.ok(got.includes('ACCOUNT_SIGNATURE_INVALID') || got.includes('ACCOUNT_INVALID'), got.join())
  })

  it('checks creds completeness, types and key pairs', async () => {
    const { url } = await aliceWith(c => {
      delete c.advSecretKey
      c.registrationId = 'x'
      c.noiseKey.public = Buffer.from(c.pairingEphemeralKeyPair.public)
    })
    const run = await runCli(['doctor', url, '--json'])
    assert.equal(run.code, 1)
    const findings = run.json().sessions[0]?.findings
    assert.deepEqual(
      findings.map((f: any) => f.code),
      ['CREDS_INCOMPLETE', 'CREDS_FIELD_INVALID', 'KEY_PAIR_MISMATCH']
    )
    assert.match(findings[0].message, /advSecretKey/)
    assert.match(findings[1].message, /registrationId/)
    assert.match(findings[2].message, /noiseKey/)
  })

  it('a linked session needs account and me', async () => {
    const { url } = await aliceWith(c => delete c.account)
    assert.deepEqual(codes(await runCli(['doctor', url, '--json'])), ['ACCOUNT_MISSING'])
    const noMe = await aliceWith(c => delete c.me)
    assert.deepEqual(codes(await runCli(['doctor', noMe.url, '--json'])), ['ME_MISSING'])
  })

  it('a never-linked session is reported as such, not as corrupt (exit 0)', async () => {
    const url = `memory:doctor-new-${process.pid}`
    const store = await openStore(url)
    await store.write('fresh', { creds: initAuthCreds() })
    const run = await runCli(['doctor', url])
    assert.equal(run.code, 0, run.stdout)
    assert.match(run.stdout, /fresh {2}never linked/)
    assert.match(run.stdout, /info {4}NOT_LINKED: This session was never linked/)
    // A named session that is not there is a typo, as in inspect (exit 2, NOT_FOUND naming the sessions held).
    for (const command of ['doctor', 'inspect']) {
      const missing = await runCli([command, url, '--session', 'nobody'])
      assert.equal(missing.code, 2, command)
      assert.match(missing.stderr, /Session "nobody" has no creds and no keys in .*not in this store \(sessions: "fresh"\)/, command)
    }
    const empty = await runCli(['doctor', `memory:doctor-empty-${process.pid}`])
    assert.equal(empty.code, 0)
    assert.match(empty.stdout, /no sessions \(none linked yet, or each was logged out or dropped/)
  })

  it("a Baileys folder: the fixture is healthy, an empty or never-linked folder is 'never linked'", async () => {
    // Baileys writes its files 0644: the private keys are readable by others, a store-wide warning.
    const folder = copyFixture('alice')
    const readable = await runCli(['doctor', `file:${folder}`, '--json'])
    assert.equal(readable.code, 1)
    assert.deepEqual(
      readable.json().findings.map((f: any) => f.code),
      ['FILE_READABLE_BY_OTHERS']
    )
    assert.equal(readable.json().findings[0].fix, `chmod -R go-rwx '${folder}'`)
    for (const file of readdirSync(folder)) chmodSync(join(folder, file), 0o600)
    const healthy = await runCli(['doctor', `file:${folder}`])
    assert.equal(healthy.code, 0, healthy.stdout + healthy.stderr)
    assert.match(healthy.stdout, /default {2}healthy/)

    const empty = mkdtempSync(join(tmpdir(), 'vault-doctor-empty-'))
    const none = await runCli(['doctor', `file:${empty}`])
    assert.equal(none.code, 0, none.stdout + none.stderr)
    assert.match(none.stdout, /no sessions \(none linked yet, or each was logged out or dropped/)

    // What Baileys writes when it shows the first QR code: fresh creds, nothing else.
    const { saveCreds } = await useMultiFileAuthState(empty)
    await saveCreds()
    chmodSync(join(empty, 'creds.json'), 0o600)
    const fresh = await runCli(['doctor', `file:${empty}`, '--json'])
    assert.equal(fresh.code, 0, fresh.stdout)
    assert.equal(fresh.json().sessions[0]?.status, 'unlinked')
    assert.deepEqual(codes(fresh), ['NOT_LINKED'])
    rmSync(empty, { recursive: true, force: true })

    const missing = await runCli(['doctor', `file:${join(tmpdir(), 'vault-no-such-folder')}`])
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /does not exist/)
  })

  it('reports values that do not decode or do not have the shape Baileys reads, with samples', async () => {
    const { store, url } = await aliceWith()
    await store.writeRaw('alice', {
      set: [
        ['session', '90000000000002_1.0', Buffer.from([1, 0x7b])],
        ['sender-key', 'g@g.us::1::0', Buffer.from('\u0001{"type":"Buffer","data":"bm90IGpzb24="}')],
        ['pre-key', '12', Buffer.from('\u0001{"public":"x"}')],
        ['lid-mapping', '15550000009', Buffer.from('\u0001"90000000000009"')]
      ],
      del: []
    })
    const run = await runCli(['doctor', url, '--json'])
    assert.equal(run.code, 1)
    const findings = run.json().sessions[0]?.findings
    const by = (code: string, type: string) => findings.find((f: any) => f.code === code && f.type === type)
    assert.deepEqual(by('VALUE_UNREADABLE', 'session').ids, ['90000000000002_1.0'])
    assert.match(by('VALUE_INVALID', 'sender-key').message, /not JSON/)
    assert.match(by('VALUE_INVALID', 'pre-key').message, /key pair/)
    assert.match(by('LID_MAPPING_INCONSISTENT', 'lid-mapping').message, /reverse entry is missing/)
  })

  it('reverse LID mappings must agree', async () => {
    const { store, url } = await aliceWith()
    await store.write('alice', { set: [['lid-mapping', '90000000000002_reverse', '15550000099']] })
    const findings = (await runCli(['doctor', url, '--json'])).json().sessions[0]?.findings
    assert.deepEqual(
      findings.map((f: any) => [f.code, f.ids].join(' ')).sort(),
      ['LID_MAPPING_INCONSISTENT 15550000002', 'LID_MAPPING_INCONSISTENT 90000000000002_reverse'].sort()
    )
  })

  it('myAppStateKeyId must have its app-state-sync-key', async () => {
    const { store, url } = await aliceWith()
    await store.write('alice', { del: [['app-state-sync-key', 'AAAAAG7f']] })
    assert.deepEqual(codes(await runCli(['doctor', url, '--json'])), ['APP_STATE_KEY_MISSING'])
  })

  it('pre-key counters: ahead of nextPreKeyId is a warning; stale pre-keys are counted (info, exit 0)', async () => {
    const { store, url } = await aliceWith()
    const pair = () => {
      const k = Curve.generateKeyPair()
      return { private: k.private, public: k.public }
    }
    await store.write('alice', { set: [['pre-key', String(ALICE.nextPreKeyId), pair()]] })
    const ahead = await runCli(['doctor', url, '--json'])
    assert.equal(ahead.code, 1)
    assert.deepEqual(codes(ahead), ['PRE_KEY_AHEAD_OF_COUNTER'])

    const stale = await aliceWith(c => {
      c.nextPreKeyId = 2000
      c.firstUnuploadedPreKeyId = 2000
    })
    const run = await runCli(['doctor', stale.url, '--json'])
    assert.equal(run.code, 0)
    const f = run.json().sessions[0]?.findings[0]
    assert.equal(f.code, 'STALE_PRE_KEYS')
    assert.equal(f.severity, 'info')
    assert.equal(f.count, ALICE.byType['pre-key']) // every stored pre-key id is below 2000 - 1624 = 376
    assert.match(f.fix, /baileys-vault prune memory:.* --session alice/)
    const wider = await runCli(['doctor', stale.url, '--keep', '1990', '--json'])
    assert.equal(wider.json().sessions[0]?.findings[0]?.count, 8, 'with keep 1990 only ids 2..9 are stale')
    assert.equal((await runCli(['doctor', stale.url, '--keep', '10'])).code, 2, 'keep below the server window is refused')
  })

  it('creds that cannot be read are an error, never a fresh device', async () => {
    const { store, url } = await aliceWith()
    await store.writeRaw('alice', { creds: Buffer.from([1, 0x7b, 0x7d]), set: [], del: [] })
    const run = await runCli(['doctor', url, '--json'])
    assert.equal(run.code, 1)
    assert.equal(codes(run)[0], 'CREDS_UNREADABLE')
  })

  it('an encrypted store is checked with BAILEYS_VAULT_KEY; without it doctor says so once, not per key', async () => {
    const source = await aliceSource()
    const url = `memory:doctor-sealed-${process.pid}`
    const env = { BAILEYS_VAULT_KEY: randomBytes(32).toString('base64') }
    assert.equal((await runCli(['migrate', source.url, url], { env })).code, 0)
    const locked = await runCli(['doctor', url, '--json'])
    assert.equal(locked.code, 1)
    assert.deepEqual(codes(locked), ['CREDS_ENCRYPTED', 'VALUE_ENCRYPTED'])
    assert.equal(locked.json().sessions[0]?.findings[1].count, ALICE.keys)
    const open = await runCli(['doctor', url], { env })
    assert.equal(open.code, 0, open.stdout)
    assert.match(open.stdout, /alice {2}healthy/)
  })

  it('doctor() as a library returns structured findings', async () => {
    const { store } = await aliceWith(c => (c.signedPreKey.signature = flip(c.signedPreKey.signature, 63)))
    const result = await doctor(store)
    assert.equal(result.ok, false)
    assert.equal(result.errors, 1)
    assert.equal(result.sessions[0]?.status, 'problems')
    assert.equal(result.sessions[0]?.findings[0]?.severity, 'error')
  })
})
