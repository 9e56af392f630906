import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isVaultError } from '../../src/core/errors.js'
import { parseStoreUrl, redactUrl } from '../../src/core/url.js'

/** A VaultError INVALID_ARGUMENT whose message passes `check`. */
const invalid = (check: (message: string) => boolean) => (err: unknown) => isVaultError(err, 'INVALID_ARGUMENT') && check(err.message)
const listsEveryScheme = (message: string) => ['memory:', 'file:', 'sqlite:', 'postgres://', 'redis://'].every(s => message.includes(s))

describe('parseStoreUrl', () => {
  it('keeps file: and sqlite: paths exactly as given, relative ones relative to cwd', () => {
    assert.deepEqual(parseStoreUrl('sqlite:./data/a.db'), { kind: 'sqlite', target: './data/a.db' })
    assert.deepEqual(parseStoreUrl('sqlite:a.db'), { kind: 'sqlite', target: 'a.db' })
    assert.deepEqual(parseStoreUrl('sqlite:/var/lib/bot/a.db'), { kind: 'sqlite', target: '/var/lib/bot/a.db' })
    assert.deepEqual(parseStoreUrl('file:auth'), { kind: 'file', target: 'auth' })
    assert.deepEqual(parseStoreUrl('file:../auth_info_baileys'), { kind: 'file', target: '../auth_info_baileys' })
  })

  it('keeps characters a URL would treat specially in a plain path (%, ?, #, :)', () => {
    assert.deepEqual(parseStoreUrl('sqlite:100%.db'), { kind: 'sqlite', target: '100%.db' })
    assert.deepEqual(parseStoreUrl('file:auth?x#y'), { kind: 'file', target: 'auth?x#y' })
    assert.deepEqual(parseStoreUrl('sqlite:c:/a.db'), { kind: 'sqlite', target: 'c:/a.db' })
  })

  it('reads the sqlite:///abs and file:///abs URL forms as absolute, percent-decoded paths', () => {
    assert.deepEqual(parseStoreUrl('sqlite:///tmp/my%20bot.db'), { kind: 'sqlite', target: '/tmp/my bot.db' })
    assert.deepEqual(parseStoreUrl('file:///srv/auth'), { kind: 'file', target: '/srv/auth' })
  })

  it('matches schemes case-insensitively', () => {
    assert.equal(parseStoreUrl('SQLite:a.db').kind, 'sqlite')
    assert.equal(parseStoreUrl('FILE:auth').kind, 'file')
    assert.equal(parseStoreUrl('Memory:').kind, 'memory')
  })

  it('passes server URLs through whole (the driver parses them), with both spellings of each scheme', () => {
    for (const url of ['postgres://bot:pw@db.internal:5432/vault', 'postgresql://localhost/vault', 'POSTGRES://h/db']) {
      assert.deepEqual(parseStoreUrl(url), { kind: 'postgres', target: url })
    }
    for (const url of ['redis://127.0.0.1:6379/2', 'rediss://:pw@cache:6380', 'Redis://h']) {
      assert.deepEqual(parseStoreUrl(url), { kind: 'redis', target: url })
    }
  })

  it('memory: takes an optional name', () => {
    assert.deepEqual(parseStoreUrl('memory:'), { kind: 'memory', target: '' })
    assert.deepEqual(parseStoreUrl('memory:tests'), { kind: 'memory', target: 'tests' })
  })

  it('rejects an empty or missing URL with INVALID_ARGUMENT naming every form that works', () => {
    assert.throws(
      () => parseStoreUrl(''),
      invalid(m => m.includes('required') && listsEveryScheme(m))
    )
    assert.throws(() => parseStoreUrl(undefined as unknown as string), invalid(listsEveryScheme))
    assert.throws(() => parseStoreUrl(42 as unknown as string), invalid(listsEveryScheme))
  })

  it('rejects file: and sqlite: without a path', () => {
    for (const url of ['sqlite:', 'file:', 'sqlite://', 'SQLITE:']) {
      assert.throws(
        () => parseStoreUrl(url),
        invalid(m => m.includes('has no path') && listsEveryScheme(m)),
        url
      )
    }
  })

  it('rejects unknown schemes and bare paths, saying which URL and which forms work', () => {
    for (const url of ['mysql://localhost/db', './a.db', 'a.db', ':memory:', 'sqlite3:a.db', 'C:\\bots\\a.db']) {
      assert.throws(
        () => parseStoreUrl(url),
        invalid(m => m.includes(`Unknown store URL "${url}"`) && listsEveryScheme(m)),
        url
      )
    }
  })

  it('never puts a password into its error message', () => {
    assert.throws(
      () => parseStoreUrl('mysql://bot:hunter2@db/vault'),
      invalid(m => !m.includes('hunter2') && m.includes('mysql://bot:***@db/vault'))
    )
  })

  it('refuses sqlite://<host>/path instead of silently dropping the host', () => {
    // A user writing sqlite://data/a.db means data/a.db; today the "host" is dropped and the
    // store lands at /a.db. Either keep it as a relative path or reject it with a hint.
    let target: string | undefined
    try {
      target = parseStoreUrl('sqlite://data/a.db').target
    } catch (err) {
      assert.ok(isVaultError(err, 'INVALID_ARGUMENT'))
      return
    }
    assert.equal(target, 'data/a.db')
  })
})

describe('redactUrl', () => {
  it('hides the password of server URLs and keeps everything else', () => {
    assert.equal(redactUrl('postgres://bot:s3cret@db:5432/vault?sslmode=require'), 'postgres://bot:***@db:5432/vault?sslmode=require')
    assert.equal(redactUrl('redis://:s3cret@cache:6379/0'), 'redis://:***@cache:6379/0')
    assert.equal(redactUrl('REDISS://user:s3cret@cache'), 'REDISS://user:***@cache')
    assert.equal(redactUrl('postgres://bot:p%40ss@db/vault'), 'postgres://bot:***@db/vault')
  })

  it('leaves URLs without a password untouched', () => {
    for (const url of ['postgres://bot@db/vault', 'redis://cache:6379', 'sqlite:/tmp/a:b@c.db', 'file:auth', 'memory:', 'sqlite:///tmp/u:p@x.db']) {
      assert.equal(redactUrl(url), url)
    }
  })

  it('hides only the first URL: a password inside the path or query is not a userinfo', () => {
    assert.equal(redactUrl('postgres://db/vault?user=a:b@c'), 'postgres://db/vault?user=a:b@c')
  })

  it('hides passwords that contain "/" or a raw "@"', () => {
    assert.ok(!redactUrl('postgres://bot:pa/ss@db/vault').includes('pa/ss'))
    assert.ok(!redactUrl('postgres://bot:p@ss@db/vault').includes('ss@db'))
  })
})
