import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { keyName, objectOrBareStringBytes, parseKeyName, valueBytes } from '../../src/drivers/import/values.js'
import { parseSqlUrl } from '../../src/drivers/import/sql-url.js'
import { parseStoreUrl } from '../../src/core/url.js'
import { isVaultError } from '../../src/core/errors.js'

const text = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : Buffer.from(bytes).toString('utf8'))

describe('importers: row names and values', () => {
  it('reads `${type}-${id}` names back for every Baileys type, longest type first; mangled names as Baileys file names', () => {
    const keys: Array<[string, string]> = [
      ['sender-key-memory', '120363000000000001@g.us'],
      ['sender-key', '120363000000000001@g.us::15550000001::0'],
      ['app-state-sync-key', 'AAAAAG7f/x'],
      ['app-state-sync-version', 'regular_high'],
      ['lid-mapping', '90000000000002_reverse'],
      ['session', '90000000000002_1.0'],
      ['tctoken', '__index'],
      ['pre-key', '12']
    ]
    for (const [type, id] of keys) {
      assert.deepEqual(parseKeyName(keyName(type, id, false), false), { type, id })
      assert.deepEqual(parseKeyName(keyName(type, id, true), true), { type, id }, `${type} ${id} mangled`)
    }
    assert.equal(keyName('sender-key', 'g@g.us::1::0', true), 'sender-key-g@g.us--1--0')
    for (const name of ['creds', 'notes-1', 'pre-key-', 'prekey-1', '']) assert.equal(parseKeyName(name, false), undefined, name)
  })

  it("takes text as is, stringifies a parsed JSON column, NULL is missing; mysql-baileys' bare strings become JSON strings", () => {
    assert.equal(text(valueBytes('{"a":1}')), '{"a":1}')
    assert.equal(text(valueBytes({ a: 1 })), '{"a":1}')
    assert.equal(valueBytes(null), undefined)
    assert.equal(text(objectOrBareStringBytes('90000000000002')), '"90000000000002"')
    assert.equal(text(objectOrBareStringBytes(90000000000002)), '"90000000000002"')
    assert.equal(text(objectOrBareStringBytes('{"public":')), '{"public":', 'a torn object stays torn (the codec refuses it)')
    assert.equal(text(objectOrBareStringBytes('["a"]')), '["a"]')
    assert.equal(text(objectOrBareStringBytes({ a: 1 })), '{"a":1}')
    assert.equal(objectOrBareStringBytes(null), undefined)
  })
})

describe('importers: URLs', () => {
  it('routes each scheme to the importers, read in place', () => {
    for (const scheme of ['mysql-baileys', 'baileys-sqlite', 'baileys-store+postgres', 'baileys-store+mysql']) {
      const url = scheme === 'baileys-sqlite' ? `${scheme}:./auth.db` : `${scheme}://u@h/db`
      assert.deepEqual(parseStoreUrl(url), { kind: 'import', scheme, target: url })
    }
  })

  it('parses every part; refuses what it does not read, never showing the password', () => {
    const form = { form: 'x://user:pass@host/db', defaultPort: 3306, params: ['table'] }
    const url = parseSqlUrl('mysql-baileys://bot:p%40ss@db.local/base?table=auth2', form)
    assert.deepEqual([url.host, url.port, url.user, url.password, url.database, url.params.get('table')], ['db.local', 3306, 'bot', 'p@ss', 'base', 'auth2'])
    assert.equal(
      parseSqlUrl('baileys-store+postgres://u:pw@h:6543/d?table=S&sslmode=disable', { ...form, params: ['table'], clientParams: true }).serverUrl('postgres'),
      'postgres://u:pw@h:6543/d?sslmode=disable'
    )
    for (const bad of [
      'mysql-baileys://bot:hunter2@h',
      'mysql-baileys://bot:hunter2@h/db?tabel=x',
      'mysql-baileys://bot:hunter2@/db',
      'mysql-baileys://bot:hunter2@h/db#x'
    ]) {
      assert.throws(
        () => parseSqlUrl(bad, form),
        err => isVaultError(err, 'INVALID_ARGUMENT') && !err.message.includes('hunter2') && err.message.includes('bot:***@'),
        bad
      )
    }
  })
})
