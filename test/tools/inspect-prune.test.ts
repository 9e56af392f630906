import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Curve } from '@whiskeysockets/baileys'
import { openStore } from '../../src/open-store.js'
import { aliceSource } from '../helpers/tools-suite.js'
import { fixtureFacts } from '../helpers/fixture.js'
import { runCli } from '../helpers/tools-cli.js'

/** Every secret in creds, in each encoding an output could use. */
function secretsOf(creds: any): string[] {
  const bytes = [
    creds.noiseKey.private,
    creds.noiseKey.public,
    creds.pairingEphemeralKeyPair.private,
    creds.signedIdentityKey.private,
    creds.signedPreKey.keyPair.private,
    Buffer.from(creds.advSecretKey, 'base64')
  ].map(b => Buffer.from(b))
  return bytes.flatMap(b => [b.toString('base64'), b.toString('hex'), b.toString('base64url'), b.subarray(0, 12).toString('base64')]).concat(creds.advSecretKey)
}

/** alice's fixture folder in numbers (the generator's output, not constants). */
const ALICE = fixtureFacts('alice')

describe('baileys-vault ls / inspect', () => {
  it('ls lists sessions with phone, LID, link state, counts and size', async () => {
    const source = await aliceSource()
    await source.store.write('spare', { set: [['device-list', '1555', ['0']]] })
    const run = await runCli(['ls', source.url])
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stdout, /SESSION +PHONE +LID +STATE +KEYS +SIZE +TYPES/)
    assert.match(
      run.stdout,
      new RegExp(
        `alice +15550000001 +90000000000001 +linked +${ALICE.keys} +1\\d KiB +pre-key ${ALICE.byType['pre-key']}, lid-mapping ${ALICE.byType['lid-mapping']}`
      )
    )
    assert.match(run.stdout, /spare +- +- +no creds +1 /)
    const json = (await runCli(['ls', source.url, '--json'])).json()
    assert.deepEqual(
      json.sessions.map((s: any) => [s.session, s.phone, s.lid, s.linked, s.keys]),
      [
        ['alice', '15550000001', '90000000000001', true, ALICE.keys],
        ['spare', undefined, undefined, false, 1]
      ]
    )
    assert.ok(json.sessions[0]?.bytes > 10_000)
  })

  it('inspect shows counts by type and a creds summary, and never a private key or secret', async () => {
    const source = await aliceSource()
    const creds = await source.store.readCreds('alice')
    creds!.pairingCode = 'ABCD1234'
    await source.store.write('alice', { creds })
    const text = await runCli(['inspect', source.url, '--session', 'alice'])
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout, /me: +15550000001:0@s\.whatsapp\.net/)
    assert.match(text.stdout, new RegExp(`next pre-key id: +${ALICE.nextPreKeyId}`))
    assert.match(text.stdout, /account: +present \(key index 1/)
    assert.match(text.stdout, /pairing code: +set \(hidden\)/)
    assert.match(text.stdout, new RegExp(`pre-key +${ALICE.byType['pre-key']} +6\\.\\d KiB`))
    const json = await runCli(['inspect', source.url, '--json'])
    assert.equal(json.code, 0, 'the only session is picked without --session')
    assert.equal(json.json().creds.registrationId, ALICE.registrationId)
    assert.equal(json.json().summary.counts.session, ALICE.byType.session)

    const outputs = [text.stdout, json.stdout, (await runCli(['ls', source.url, '--json'])).stdout, (await runCli(['doctor', source.url, '--json'])).stdout]
    for (const out of outputs) {
      for (const secret of [...secretsOf(creds), 'ABCD1234']) assert.ok(!out.includes(secret), 'no secret in the output')
    }
  })

  it('inspect: unknown session exits 2; several sessions need --session', async () => {
    const source = await aliceSource()
    const missing = await runCli(['inspect', source.url, '--session', 'nobody'])
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /Session "nobody" has no creds and no keys/)
    await source.store.write('b', { set: [['device-list', '1', ['0']]] })
    const ambiguous = await runCli(['inspect', source.url])
    assert.equal(ambiguous.code, 2)
    assert.match(ambiguous.stderr, /2 sessions; pick one with --session \(alice, b\)/)
  })
})

describe('baileys-vault prune', () => {
  /** alice after ~3,000 pre-keys went through: counters at 3001, every pre-key id 1..3000 stored. */
  async function grownAlice() {
    const source = await aliceSource()
    const creds = (await source.store.readCreds('alice'))!
    const set: Array<[string, string, unknown]> = []
    const pair = Curve.generateKeyPair()
    for (let id = ALICE.nextPreKeyId; id <= 3000; id++) set.push(['pre-key', String(id), { private: pair.private, public: pair.public }])
    creds.nextPreKeyId = 3001
    creds.firstUnuploadedPreKeyId = 3001
    await source.store.write('alice', { creds, set })
    return source
  }

  it('removes only pre-keys below the uploaded window; dry run first; doctor agrees', async () => {
    const { url, store } = await grownAlice()
    const before = (await runCli(['doctor', url, '--json'])).json().sessions[0]?.findings
    assert.deepEqual(
      before.map((f: any) => [f.code, f.count]),
      [['STALE_PRE_KEYS', 3001 - 1624 - 2]]
    )

    const dry = await runCli(['prune', url, '--session', 'alice', '--dry-run'])
    assert.equal(dry.code, 0, dry.stderr)
    assert.match(dry.stdout, /would remove 1375 stale pre-keys \(ids 2–1376, all below 1377\); 1624 pre-keys would remain/)
    assert.equal((await store.readKeys('alice', 'pre-key', ['2'])).size, 1, 'dry run removed nothing')

    const run = await runCli(['prune', url, '--json'])
    assert.equal(run.code, 0, run.stderr)
    assert.deepEqual(run.json().removed, { 'pre-key': 1375 })
    assert.deepEqual(run.json().range, [2, 1376])
    assert.equal((await store.readKeys('alice', 'pre-key', ['1376'])).size, 0)
    assert.equal((await store.readKeys('alice', 'pre-key', ['1377'])).size, 1, 'the window is kept')
    let others = 0
    for await (const [type] of store.listKeys('alice')) if (type !== 'pre-key') others++
    assert.equal(others, ALICE.keys - (ALICE.byType['pre-key'] ?? assert.fail('alice has pre-keys')), 'nothing but pre-keys touched')

    const after = await runCli(['doctor', url, '--json'])
    assert.equal(after.code, 0)
    assert.deepEqual(after.json().sessions[0]?.findings, [])
    const again = await runCli(['prune', url])
    assert.match(again.stdout, /removed no stale pre-keys/)
  })

  it('refuses a keep window smaller than what the server can hold, and sessions without creds', async () => {
    const { url, store } = await grownAlice()
    const small = await runCli(['prune', url, '--keep', '100'])
    assert.equal(small.code, 2)
    assert.match(small.stderr, /keep must be an integer of at least 817/)
    await store.write('keys-only', { set: [['pre-key', '1', { private: Buffer.alloc(32), public: Buffer.alloc(32) }]] })
    const orphan = await runCli(['prune', url, '--session', 'keys-only'])
    assert.equal(orphan.code, 2)
    assert.match(orphan.stderr, /no creds/)
    assert.equal((await (await openStore(url)).readKeys('keys-only', 'pre-key', ['1'])).size, 1)
  })
})
