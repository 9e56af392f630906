import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isVaultError } from '../../src/core/errors.js'
import { parseStoreUrl, redactUrl } from '../../src/core/url.js'

/** A VaultError INVALID_ARGUMENT whose message passes `check`. */
const invalid = (check: (message: string) => boolean) => (err: unknown) => isVaultError(err, 'INVALID_ARGUMENT') && check(err.message)
const listsEveryScheme = (message: string) => ['memory:', 'file:', 'sqlite:', 'postgres://', 'redis://'].every(s => message.includes(s))

/** The parsed parts of a server URL. */
const serverParts = (url: string) => {
  const parsed = parseStoreUrl(url)
  return 'redis' in parsed ? parsed.redis : 'postgres' in parsed ? parsed.postgres : undefined
}

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

  it('passes server URLs through whole, with both spellings of each scheme, and every part parsed', () => {
    assert.deepEqual(parseStoreUrl('postgres://bot:pw@db.internal:5432/vault'), {
      kind: 'postgres',
      target: 'postgres://bot:pw@db.internal:5432/vault',
      postgres: { host: 'db.internal', port: 5432, database: 'vault' }
    })
    assert.deepEqual(parseStoreUrl('postgresql://localhost/vault'), {
      kind: 'postgres',
      target: 'postgresql://localhost/vault',
      postgres: { host: 'localhost', port: 5432, database: 'vault' }
    })
    assert.equal(parseStoreUrl('POSTGRES://h/db').kind, 'postgres')
    assert.deepEqual(parseStoreUrl('redis://127.0.0.1:6379/2'), {
      kind: 'redis',
      target: 'redis://127.0.0.1:6379/2',
      redis: { tls: false, host: '127.0.0.1', port: 6379, db: 2, prefix: undefined }
    })
    assert.deepEqual(serverParts('rediss://:pw@cache:6380?prefix=bots'), { tls: true, host: 'cache', port: 6380, db: 0, prefix: 'bots' })
    assert.equal(parseStoreUrl('Redis://h').kind, 'redis')
  })

  it('refuses a Redis database that is not a whole number, naming the part and the valid range', () => {
    for (const [url, shown] of [
      ['redis://127.0.0.1:6379/abc', '"abc"'],
      ['redis://127.0.0.1:6379/-1', '"-1"'],
      ['redis://127.0.0.1:6379/1.5', '"1.5"'],
      ['redis://127.0.0.1:6379/01', '"01"'],
      ['redis://127.0.0.1:6379/0/1', '"0/1"'],
      ['redis://127.0.0.1:6379/%20', '" "']
    ] as const) {
      assert.throws(
        () => parseStoreUrl(url),
        invalid(m => m.includes(`The database in store URL`) && m.includes(shown) && m.includes('0 to 15')),
        url
      )
    }
  })

  it('refuses every other malformed part of a server URL instead of defaulting it', () => {
    const cases: Array<[string, RegExp]> = [
      ['redis://', /names no host/],
      ['redis://:6379/0', /not a valid URL|names no host/],
      ['redis://h:0', /port .* 1 to 65535/],
      ['redis://h:99999', /not a valid URL/],
      ['redis://h?db=3', /parameter "db".*prefix/],
      ['redis://h?prefix=a&prefix=b', /twice/],
      ['redis://h/0#x', /fragment/],
      ['postgres://h', /names no database/],
      ['postgres://h/', /names no database/],
      ['postgres:///db', /names no host/],
      ['postgres://h/a/b', /not one name/],
      ['postgres://h/db?sslmod=require', /parameter "sslmod".*sslmode/],
      ['postgres://h:0/db', /1 to 65535/],
      ['postgres://h/%zz', /malformed %-escape/],
      ['sqlite:///tmp/a.db?mode=ro', /query/],
      ['file:///srv/auth#x', /fragment/]
    ]
    for (const [url, message] of cases)
      assert.throws(
        () => parseStoreUrl(url),
        invalid(m => message.test(m)),
        url
      )
    // A socket folder in ?host= is a host.
    assert.deepEqual(serverParts('postgres:///vault?host=/run/postgresql'), { host: '', port: 5432, database: 'vault' })
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

  it('hides a password also where the URL is garbled (a typo in the scheme, one slash, an "@" in a query)', () => {
    assert.equal(redactUrl('redis:/:s3cret@h'), 'redis:/:***@h')
    assert.equal(redactUrl('rediss//:s3cret@h'), '***:***@h')
    assert.equal(redactUrl('postgr?sql://bot:s3cret@h/db'), '***:***@h/db')
    assert.ok(!redactUrl('postgres://db/vault?user=a:s3cret@c').includes('s3cret'))
  })

  it('hides passwords that contain "/" or a raw "@"', () => {
    assert.ok(!redactUrl('postgres://bot:pa/ss@db/vault').includes('pa/ss'))
    assert.ok(!redactUrl('postgres://bot:p@ss@db/vault').includes('ss@db'))
  })
})
