import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BufferJSON, proto } from '@whiskeysockets/baileys'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { decodeCreds, decodeValue, encodeValue } from '../../src/codec/values.js'
import { FORMAT_JSON } from '../../src/codec/envelope.js'
import { VaultError } from '../../src/core/errors.js'
import { FIXTURE_ROOT, listBaileysFolder, readBaileysFolder, type FixtureName } from '../helpers/fixture.js'

const FIXTURES: FixtureName[] = ['alice', 'bob', 'carol']

/** Baileys' own reading of a key file: what any store must give back. */
const baileysRead = (folder: string, type: string, id: string) => {
  const file = `${type}-${id.replace(/\//g, '__').replace(/:/g, '-')}.json`
  let value = JSON.parse(readFileSync(join(folder, file), 'utf8'), BufferJSON.reviver)
  if (type === 'app-state-sync-key') value = proto.Message.AppStateSyncKeyData.fromObject(value)
  return { file, value }
}

describe('codec: exact Baileys value semantics', () => {
  for (const name of FIXTURES) {
    it(`round-trips every key and the creds of fixture ${name} exactly`, async () => {
      const folder = join(FIXTURE_ROOT, name)
      const { creds, keys } = await readBaileysFolder(folder)
      const types = new Set<string>()
      for (const [type, id, value] of keys) {
        types.add(type)
        for (const bare of [false, true]) {
          const back = decodeValue(encodeValue(value, bare), 'fixture', type, id)
          assert.deepEqual(back, value, `${type} ${id}`)
        }
        // The bare form is byte-for-byte what Baileys writes to its file.
        const { file } = baileysRead(folder, type, id)
        assert.equal(Buffer.from(encodeValue(value, true)).toString(), JSON.stringify(value, BufferJSON.replacer), file)
      }
      const credsBack = decodeCreds(encodeValue(creds), name)
      assert.deepEqual(credsBack, creds)
      assert.equal(Buffer.from(encodeValue(creds, true)).toString(), readFileSync(join(folder, 'creds.json'), 'utf8'))
      assert.ok(Buffer.isBuffer(credsBack.routingInfo), 'routingInfo comes back as a Buffer')
      assert.ok(Buffer.isBuffer(credsBack.signedIdentityKey.private))
      if (name === 'alice') assert.deepEqual([...types].sort(), [...manifestTypes(name)].sort())
    })
  }

  it("reads the fixture's key ids exactly as Baileys wrote them, including tctoken __index", () => {
    const ids = listBaileysFolder(join(FIXTURE_ROOT, 'alice')).map(([t, id]) => `${t}/${id}`)
    for (const expected of [
      'tctoken/__index',
      'sender-key/120363000000000001@g.us::15550000002::0',
      'session/90000000000002_1.0',
      'lid-mapping/90000000000002_reverse'
    ]) {
      assert.ok(ids.includes(expected), expected)
    }
  })

  it('returns app-state-sync-key as an AppStateSyncKeyData message (fromObject), not a plain object', async () => {
    const folder = join(FIXTURE_ROOT, 'alice')
    const [type, id] = listBaileysFolder(folder).find(([t]) => t === 'app-state-sync-key') ?? assert.fail('the fixture has an app-state-sync-key')
    const { value } = baileysRead(folder, type, id)
    const back = decodeValue(encodeValue(value), 'alice', type, id)
    assert.ok(back instanceof proto.Message.AppStateSyncKeyData)
    assert.ok(back.keyData && back.keyData.length === 32)
    assert.equal(String(back.fingerprint?.rawId), String(value.fingerprint?.rawId))
  })

  it('keeps Buffer and Uint8Array bytes, nested, and the tctoken __index entry', () => {
    const value = { token: new Uint8Array([1, 2, 3]), nested: { b: Buffer.from([9, 8]) }, list: [new Uint8Array([7])], timestamp: '17', n: 5 }
    const back = decodeValue(encodeValue(value), 's', 'tctoken', '__index')
    assert.deepEqual([...back.token], [1, 2, 3])
    assert.deepEqual([...back.nested.b], [9, 8])
    assert.deepEqual([...back.list[0]], [7])
    assert.equal(back.timestamp, '17')
    assert.equal(back.n, 5)
    // A Signal session is a plain object of base64 strings and stays one.
    const session = { _sessions: { k: { registrationId: 1, currentRatchet: { rootKey: 'AAAA' } } }, version: 'v1' }
    assert.deepEqual(decodeValue(encodeValue(session), 's', 'session', 'x'), session)
    // sender-key-memory: jid → boolean map
    const memory = { '15550000002:0@s.whatsapp.net': true, '15550000003:0@s.whatsapp.net': false }
    assert.deepEqual(decodeValue(encodeValue(memory), 's', 'sender-key-memory', 'g'), memory)
    // lid-mapping (string) and device-list (string[])
    assert.equal(decodeValue(encodeValue('90000000000002'), 's', 'lid-mapping', '1'), '90000000000002')
    assert.deepEqual(decodeValue(encodeValue(['0', '12']), 's', 'device-list', '1'), ['0', '12'])
  })

  it("decodes any stored text exactly as JSON.parse with Baileys' reviver, including texts the walk is skipped for", () => {
    // Each text is a case the fast path must send to the walk (a reviver rule may apply), or one
    // it may skip; the result must equal Baileys' own parse either way.
    const texts = [
      '{"a":{"0":1,"1":2}}', // numeric keys, number values: bytes
      '{"a":{"7x":1}}', // parseInt("7x") is 7
      '{"a":{"-1":1}}',
      '{"a":{"+1":1}}',
      '{"a":{" 1":1}}', // parseInt skips leading spaces
      '{"a":{"\\u00a01":1}}', // …and Unicode ones, escaped
      '{"a":{" 1":1}}', // …or raw
      '{"a":{"\\u0031":1}}', // an escaped digit
      '{ "a" : { "1" : 2 } }', // JSON whitespace between tokens
      '{"a":{\n"1":2}}', // a raw newline between tokens
      '[{"0":3}]',
      '{"k":{"type":"Buffer","data":"AQID"}}',
      '{"k":{"type":"Buff\\u0065r","data":"AQID"}}', // an escaped "Buffer"
      '{"k":{"data":"AQID","type":"Buffer"}}',
      '{"a":{"1":"x"},"b":{"0":1}}',
      '{"_sessions":{"BXk+/=":{"registrationId":1,"_chains":{"BQ==":{"chainKey":{"counter":-1},"chainType":1,"messageKeys":{}}}}},"version":"v1"}',
      '{"messageKeys":{"5":"abc"},"n":[1,2,{"2":2}]}',
      '"text"',
      '42',
      '[]'
    ]
    for (const text of texts) {
      const expected = JSON.parse(text, BufferJSON.reviver)
      const got = decodeValue(Buffer.from(text), 's', 'session', 'x')
      assert.deepEqual(got, expected, text)
      assert.equal(Buffer.isBuffer(got?.a) || Buffer.isBuffer(got?.k), Buffer.isBuffer(expected?.a) || Buffer.isBuffer(expected?.k), text)
    }
  })

  it('puts a format byte in front of database values and none in front of bare JSON', () => {
    assert.equal(encodeValue({ a: 1 })[0], FORMAT_JSON)
    assert.equal(Buffer.from(encodeValue({ a: 1 }, true)).toString(), '{"a":1}')
  })

  it('raises CORRUPT_DATA naming the location for torn JSON, and never returns null', () => {
    const torn = Buffer.from(encodeValue({ a: 'b'.repeat(100) })).subarray(0, 20)
    assert.throws(
      () => decodeValue(torn, 'acct-1', 'session', '15550000001.0'),
      (e: unknown) => e instanceof VaultError && e.code === 'CORRUPT_DATA' && e.message.includes('acct-1') && e.message.includes('15550000001.0')
    )
    assert.throws(
      () => decodeValue(new Uint8Array(0), 'acct-1', 'session', 'x'),
      (e: unknown) => e instanceof VaultError && e.code === 'CORRUPT_DATA'
    )
  })

  it('raises UNSUPPORTED_FORMAT for a newer format byte', () => {
    assert.throws(
      () => decodeValue(Buffer.from([0x07, 0x7b, 0x7d]), 's', 'session', 'x'),
      (e: unknown) => e instanceof VaultError && e.code === 'UNSUPPORTED_FORMAT'
    )
  })

  it('refuses creds that decode to something that is not creds', () => {
    for (const bad of [null, 'text', [1, 2], { registrationId: 5 }]) {
      assert.throws(
        () => decodeCreds(encodeValue(bad), 'acct-9'),
        (e: unknown) => e instanceof VaultError && e.code === 'CORRUPT_DATA' && e.message.includes('acct-9')
      )
    }
  })
})

function manifestTypes(name: FixtureName): string[] {
  return JSON.parse(readFileSync(join(FIXTURE_ROOT, 'manifest.json'), 'utf8')).devices[name].keyTypes
}
