import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { isVaultError } from '../../src/core/errors.js'
import { parseStoreUrl, redactUrl } from '../../src/core/url.js'
import { parseEvolutionUrl } from '../../src/drivers/import/evolution-url.js'
import { typedKeyName } from '../../src/drivers/import/checked-values.js'
import { openStore } from '../../src/open-store.js'

const refuses = (url: string, code: string, pattern: RegExp) =>
  assert.throws(
    () => parseEvolutionUrl(url),
    (err: unknown) => {
      assert.ok(isVaultError(err), String(err))
      assert.equal(err.code, code)
      assert.match(err.message, pattern)
      assert.doesNotMatch(err.message, /s3cret/)
      return true
    }
  )

describe('evolution+… URLs', () => {
  const folder = mkdtempSync(join(tmpdir(), 'vault-evolution-url-'))

  it('reads the three layouts, with Evolution’s defaults', () => {
    assert.deepEqual(parseEvolutionUrl('evolution+postgres://u:s3cret@db/evo?schema=evolution_api&redis=redis://:s3cret@cache:6379/6?prefix=evolution'), {
      creds: 'postgres',
      postgresUrl: 'postgres://u:s3cret@db/evo',
      schema: 'evolution_api',
      keys: { redis: { url: 'redis://:s3cret@cache:6379/6?prefix=evolution', prefix: 'evolution' } }
    })
    assert.deepEqual(parseEvolutionUrl(`evolution+postgresql://u@db/evo?sslmode=require&instances=${folder}`), {
      creds: 'postgres',
      postgresUrl: 'postgresql://u@db/evo?sslmode=require',
      schema: 'public',
      keys: { instances: folder }
    })
    assert.deepEqual(parseEvolutionUrl('evolution+redis://cache:6379/6'), {
      creds: 'redis',
      keys: { redis: { url: 'redis://cache:6379/6', prefix: 'evolution-cache' } }
    })
    assert.equal(parseStoreUrl('evolution+redis://cache').kind, 'import')
    assert.equal(parseStoreUrl('baileys-api+rediss://cache').kind, 'import')
  })

  it('refuses every malformed part with a message that says what to write, never a password', () => {
    refuses('evolution+postgres://u:s3cret@db/evo', 'INVALID_ARGUMENT', /does not say where Evolution API kept the keys: add redis=/)
    refuses(`evolution+postgres://u:s3cret@db/evo?redis=redis://c&instances=${folder}`, 'INVALID_ARGUMENT', /gives two places/)
    refuses('evolution+postgres://u:s3cret@db/evo?redis=http://c', 'INVALID_ARGUMENT', /not a redis:\/\/ URL/)
    refuses('evolution+postgres://u:s3cret@db/evo?redis=redis://c/99x', 'INVALID_ARGUMENT', /database/)
    refuses('evolution+postgres://u:s3cret@db/evo?redis=redis://c&prefix=evolution', 'INVALID_ARGUMENT', /prefix= outside the Redis URL/)
    refuses('evolution+postgres://u:s3cret@db/evo?redis=redis://c&redis=redis://d', 'INVALID_ARGUMENT', /gives redis= 2 times/)
    refuses('evolution+postgres://u:s3cret@db/evo?redis=redis://c&schema=a"b', 'INVALID_ARGUMENT', /schema=/)
    refuses('evolution+postgres://u:s3cret@db/evo?redis=redis://c&pool=3', 'INVALID_ARGUMENT', /not a PostgreSQL connection parameter/)
    refuses('evolution+postgres://u:s3cret@db/?redis=redis://c', 'INVALID_ARGUMENT', /names no database/)
    refuses('evolution+postgres://u:s3cret@db/evo?instances=/no/such/folder', 'NOT_FOUND', /instances folder "\/no\/such\/folder" .* does not exist/)
    refuses('evolution+redis://:s3cret@cache:6379/x', 'INVALID_ARGUMENT', /database/)
  })

  it('openStore refuses a bad importer URL before connecting, and a baileys-api URL with a prefix', async () => {
    await assert.rejects(openStore('baileys-api+redis://:s3cret@127.0.0.1:1/0?prefix=x'), (err: unknown) => {
      assert.ok(isVaultError(err, 'INVALID_ARGUMENT'))
      assert.match(err.message, /key names are fixed/)
      assert.doesNotMatch(err.message, /s3cret/)
      return true
    })
  })
})

describe('redactUrl hides the password of a URL inside a query value', () => {
  it('raw or percent-encoded', () => {
    for (const url of [
      'evolution+postgres://u:s3cret@db/evo?redis=redis://:s3cret2@cache:6379',
      'evolution+postgres://db/evo?redis=redis://:s3cret2@cache:6379',
      `evolution+postgres://u:s3cret@db/evo?redis=${encodeURIComponent('redis://:s3cret2@cache:6379/6?prefix=evolution')}`,
      `evolution+postgres://db/evo?schema=x&redis=${encodeURIComponent('redis://user:s3cret2@cache')}&instances=/a`
    ]) {
      const shown = redactUrl(url)
      assert.doesNotMatch(shown, /s3cret/, shown)
    }
    assert.equal(redactUrl(`evolution+redis://cache/6?prefix=${encodeURIComponent('a@b')}`), `evolution+redis://cache/6?prefix=${encodeURIComponent('a@b')}`)
  })
})

describe('typedKeyName', () => {
  it('reads `${type}-${id}` back with the longest Baileys type', () => {
    assert.deepEqual(typedKeyName('sender-key-memory-120363000000000001@g.us'), { type: 'sender-key-memory', id: '120363000000000001@g.us' })
    assert.deepEqual(typedKeyName('sender-key-120363000000000001@g.us::90000000000002::0'), {
      type: 'sender-key',
      id: '120363000000000001@g.us::90000000000002::0'
    })
    assert.deepEqual(typedKeyName('app-state-sync-key-AAAAAG7f'), { type: 'app-state-sync-key', id: 'AAAAAG7f' })
    assert.deepEqual(typedKeyName('tctoken-__index'), { type: 'tctoken', id: '__index' })
    assert.equal(typedKeyName('chats'), undefined)
    assert.equal(typedKeyName('session-'), undefined)
  })
})
