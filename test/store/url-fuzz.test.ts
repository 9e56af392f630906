/**
 * Fuzz over store URLs: built from random good and bad parts, then randomly mutated. Every URL
 * either parses to exactly what it says (each part as written, a left-out part only to its
 * documented default) or throws INVALID_ARGUMENT; never another exception, never a silent
 * default (issue 20: `redis://…/abc` used to be database 0), never a password in a message.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isVaultError } from '../../src/core/errors.js'
import { parseStoreUrl, type ParsedStoreUrl } from '../../src/core/url.js'

/** Deterministic PRNG: a failure names its seed and URL. */
function prng(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed / 0x7fffffff
  }
}
type Rand = () => number
const pick = <T>(rand: Rand, items: readonly T[]): T => {
  const item = items[Math.floor(rand() * items.length)]
  if (item === undefined) throw new Error('pick from an empty list')
  return item
}

/** Mostly good parts, so that whole URLs are often valid: each bad part is tried on its own too. */
const part = (rand: Rand, parts: readonly Part[]): Part =>
  rand() < 0.85
    ? pick(
        rand,
        parts.filter(p => p.ok)
      )
    : pick(rand, parts)

const PASSWORD = 'Pw-s3cret-xyz'

interface Part {
  text: string
  /** False for a part the parser must refuse. */
  ok: boolean
}
const good = (text: string): Part => ({ text, ok: true })
const bad = (text: string): Part => ({ text, ok: false })

const HOSTS = [good('127.0.0.1'), good('cache'), good('db.internal'), good('[::1]'), bad('')]
const PORTS = [good(''), good(':1'), good(':6379'), good(':65535'), bad(':0'), bad(':65536'), bad(':-1'), bad(':abc'), bad(':6379x')]
const REDIS_DBS = [
  good(''),
  good('/'),
  good('/0'),
  good('/7'),
  good('/15'),
  good('/99'),
  bad('/abc'),
  bad('/-1'),
  bad('/01'),
  bad('/1.5'),
  bad('/1/2'),
  bad('/%20'),
  bad('/0x1'),
  bad('/1e3'),
  bad('/%zz')
]
const REDIS_QUERIES = [good(''), good('?prefix=bots'), good('?prefix='), bad('?db=3'), bad('?keyPrefix=x'), bad('?prefix=a&prefix=b'), bad('?family=6')]
const PG_DBS = [good('/vault'), good('/my%20db'), bad(''), bad('/'), bad('/a/b'), bad('/%zz'), bad('/a%0Ab')]
const PG_QUERIES = [
  good(''),
  good('?sslmode=require'),
  good('?application_name=bot&connect_timeout=5'),
  bad('?sslmod=require'),
  bad('?schema=x'),
  bad('?port=1')
]
const FRAGMENTS = [good(''), bad('#x'), bad('#')]
const USERINFO = [good(''), good(`bot:${PASSWORD}@`), good(`:${PASSWORD}@`), good('bot@')]

interface Built {
  url: string
  ok: boolean
  check: (parsed: ParsedStoreUrl) => void
}

const portOf = (text: string, fallback: number) => (text === '' ? fallback : Number(text.slice(1)))
const hostOf = (text: string) => text.replace(/^\[|\]$/g, '')

/** A server URL drawn part by part (scheme, userinfo, host, port, database, query, fragment): valid only if every part is. */
function serverUrl(rand: Rand, schemes: string[], dbs: typeof REDIS_DBS, queries: typeof REDIS_QUERIES) {
  const scheme = pick(rand, schemes)
  const [user, host, port, db, query, hash] = [
    part(rand, USERINFO),
    part(rand, HOSTS),
    part(rand, PORTS),
    part(rand, dbs),
    part(rand, queries),
    part(rand, FRAGMENTS)
  ]
  return {
    scheme,
    host,
    port,
    db,
    query,
    url: `${scheme}://${user.text}${host.text}${port.text}${db.text}${query.text}${hash.text}`,
    ok: [user, host, port, db, query, hash].every(p => p.ok)
  }
}

function buildRedis(rand: Rand): Built {
  const { scheme, host, port, db, query, url, ok } = serverUrl(rand, ['redis', 'rediss', 'REDIS'], REDIS_DBS, REDIS_QUERIES)
  return {
    url,
    ok,
    check(parsed) {
      assert.equal(parsed.kind, 'redis')
      if (parsed.kind !== 'redis') return
      const dbText = db.text.replace(/^\//, '')
      assert.deepEqual(
        { ...parsed.redis, host: hostOf(parsed.redis.host) },
        {
          tls: scheme === 'rediss',
          host: hostOf(host.text),
          port: portOf(port.text, 6379),
          db: dbText === '' ? 0 : Number(dbText),
          prefix: query.text.startsWith('?prefix=') ? query.text.slice('?prefix='.length) : undefined
        }
      )
    }
  }
}

function buildPostgres(rand: Rand): Built {
  const { host, port, db, url, ok } = serverUrl(rand, ['postgres', 'postgresql'], PG_DBS, PG_QUERIES)
  return {
    url,
    ok,
    check(parsed) {
      assert.equal(parsed.kind, 'postgres')
      if (parsed.kind !== 'postgres') return
      assert.deepEqual(
        { ...parsed.postgres, host: hostOf(parsed.postgres.host) },
        { host: hostOf(host.text), port: portOf(port.text, 5432), database: decodeURIComponent(db.text.slice(1)) }
      )
    }
  }
}

function buildPath(rand: Rand): Built {
  const scheme = pick(rand, ['sqlite', 'file'])
  const form = pick(rand, ['plain', 'url'] as const)
  const path = part(rand, [good('/tmp/a.db'), good('/srv/my%20bot'), bad('/%zz'), bad('')])
  const query = form === 'url' ? part(rand, [good(''), bad('?mode=ro')]) : good('')
  const host = form === 'url' ? part(rand, [good(''), good('localhost'), bad('data')]) : good('')
  const url = form === 'plain' ? `${scheme}:${path.text}` : `${scheme}://${host.text}${path.text}${query.text}`
  return {
    url,
    // A plain path is kept as written, '%' and all; only an empty one is refused.
    ok: form === 'plain' ? path.text !== '' : path.ok && query.ok && host.ok,
    check(parsed) {
      assert.equal(parsed.kind, scheme)
      assert.equal(parsed.target, form === 'plain' ? path.text : decodeURIComponent(path.text))
    }
  }
}

/** A random edit: a character inserted, deleted or replaced somewhere. */
function mutate(url: string, rand: Rand): string {
  const at = Math.floor(rand() * (url.length + 1))
  const char = pick(rand, [...'/:@?#&=%.-_0123456789aZ[] \u0000\u00e9'])
  switch (pick(rand, ['insert', 'delete', 'replace'] as const)) {
    case 'insert':
      return url.slice(0, at) + char + url.slice(at)
    case 'delete':
      return url.slice(0, at) + url.slice(at + 1)
    default:
      return url.slice(0, at) + char + url.slice(at + 1)
  }
}

/** What a parsed server URL must say, read back independently from the URL text itself. */
function saysWhatItSays(url: string, parsed: ParsedStoreUrl): void {
  if (parsed.kind !== 'redis' && parsed.kind !== 'postgres') return
  const u = new URL(url)
  const fallbackPort = parsed.kind === 'redis' ? 6379 : 5432
  const parts = parsed.kind === 'redis' ? parsed.redis : parsed.postgres
  assert.equal(parts.port, u.port === '' ? fallbackPort : Number(u.port), `port of ${url}`)
  assert.equal(u.hash, '', `no fragment in ${url}`)
  if (parsed.kind === 'redis') {
    assert.ok(['', '/', `/${parsed.redis.db}`].includes(u.pathname), `database of ${url}`)
    assert.ok(
      [...u.searchParams.keys()].every(k => k === 'prefix'),
      `parameters of ${url}`
    )
  } else assert.equal(`/${encodeURIComponent(parsed.postgres.database)}`.length > 1, true)
}

const hasPassword = (url: string) => {
  const at = url.indexOf(`:${PASSWORD}@`)
  return at >= 0 && !/[?#]/.test(url.slice(0, at))
}

function expectOutcome(url: string, expectOk: boolean | undefined, check?: (parsed: ParsedStoreUrl) => void): 'parsed' | 'refused' {
  let parsed: ParsedStoreUrl
  try {
    parsed = parseStoreUrl(url)
  } catch (err) {
    assert.ok(isVaultError(err, 'INVALID_ARGUMENT'), `${JSON.stringify(url)} threw ${String(err)}`)
    // Whenever the text still holds ":<password>@" before any '?' or '#' (a mutation can turn
    // the password into a user name, a host or a query, where nothing is a password any more).
    if (hasPassword(url)) assert.ok(!err.message.includes(PASSWORD), `the password is not in the message for ${JSON.stringify(url)}`)
    assert.notEqual(expectOk, true, `${JSON.stringify(url)} is valid but was refused: ${err.message}`)
    return 'refused'
  }
  assert.notEqual(expectOk, false, `${JSON.stringify(url)} has a bad part but parsed to ${JSON.stringify(parsed)}`)
  check?.(parsed)
  saysWhatItSays(url, parsed)
  return 'parsed'
}

describe('fuzz: store URLs parse to exactly what they say or are INVALID_ARGUMENT', () => {
  for (const [name, build, seed] of [
    ['redis', buildRedis, 11],
    ['postgres', buildPostgres, 22],
    ['file/sqlite', buildPath, 33]
  ] as const) {
    it(`${name}: 1500 URLs from good and bad parts, and a mutation of each (seed ${seed})`, () => {
      const rand = prng(seed)
      const seen = { parsed: 0, refused: 0 }
      for (let i = 0; i < 1500; i++) {
        const built = build(rand)
        seen[expectOutcome(built.url, built.ok, built.check)]++
        seen[expectOutcome(mutate(built.url, rand), undefined)]++
      }
      // Both outcomes occur: the generator is not all-good or all-bad.
      assert.ok(seen.parsed > 100 && seen.refused > 100, JSON.stringify(seen))
    })
  }
})
