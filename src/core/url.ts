import { invalidArgument } from './errors.js'
import { redactUrl } from './redact-url.js'
import { parsePostgresUrl, parseRedisUrl, type PostgresUrl, type RedisUrl } from './server-url.js'

export { redactUrl }
export type { PostgresUrl, RedisUrl }

export type StoreKind = 'memory' | 'file' | 'sqlite' | 'postgres' | 'redis' | 'import'

/**
 * Schemes of other projects' layouts that migrate, ls, inspect and doctor read in place, never
 * writing to them (drivers/import/). Each importer adds its scheme here and in drivers/import/index.ts.
 */
export const IMPORT_SCHEMES: readonly string[] = [
  // Evolution API (drivers/import/evolution.ts)
  'evolution+postgres',
  'evolution+postgresql',
  'evolution+redis',
  'evolution+rediss',
  // fazer-ai/baileys-api (drivers/import/baileys-api.ts)
  'baileys-api+redis',
  'baileys-api+rediss',
  // mysql-baileys, Baileys' own SQLite store, whatsapp-store-db/baileys-store (drivers/import/*.ts)
  'mysql-baileys',
  'baileys-sqlite',
  'baileys-store+postgres',
  'baileys-store+mysql'
]

/**
 * `target` is the file-system path for file: and sqlite:, the full URL for servers, the name
 * for memory:. Server URLs also come with every part checked and parsed.
 */
export type ParsedStoreUrl =
  | { kind: 'memory' | 'file' | 'sqlite'; target: string }
  | { kind: 'postgres'; target: string; postgres: PostgresUrl }
  | { kind: 'redis'; target: string; redis: RedisUrl }
  | { kind: 'import'; scheme: string; target: string }

const USAGE = 'Use memory:, file:<folder>, sqlite:<path>, postgres://user:pass@host/db or redis://host:port.'

/** Parses a store URL. Relative paths (`sqlite:./a.db`, `file:auth`) are kept relative to cwd. */
export function parseStoreUrl(url: string): ParsedStoreUrl {
  if (typeof url !== 'string' || url.length === 0) throw invalidArgument(`A store URL is required. ${USAGE}`)
  const colon = url.indexOf(':')
  const scheme = colon > 0 ? url.slice(0, colon).toLowerCase() : ''
  const rest = url.slice(colon + 1)
  switch (scheme) {
    case 'memory':
      return { kind: 'memory', target: rest }
    case 'file':
    case 'sqlite': {
      const path = rest.startsWith('//') ? pathOfFileUrl(url) : rest
      if (!path) throw invalidArgument(`Store URL "${redactUrl(url)}" has no path. ${USAGE}`)
      return { kind: scheme, target: path }
    }
    case 'postgres':
    case 'postgresql':
      return { kind: 'postgres', target: url, postgres: parsePostgresUrl(url) }
    case 'redis':
    case 'rediss':
      return { kind: 'redis', target: url, redis: parseRedisUrl(url) }
    default:
      if (IMPORT_SCHEMES.includes(scheme)) return { kind: 'import', scheme, target: url }
      throw invalidArgument(`Unknown store URL "${redactUrl(url)}". ${USAGE}`)
  }
}

/**
 * `sqlite:///abs/a.db` or `sqlite://localhost/abs/a.db`. A host, a query or a fragment would be
 * silently dropped, so each is refused.
 */
function pathOfFileUrl(url: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw invalidArgument(
      `Store URL "${redactUrl(url)}" is not a valid URL; write a path as ${url.slice(0, url.indexOf(':') + 1)}<path> or ${url.slice(0, url.indexOf(':') + 1)}///absolute/path.`
    )
  }
  // `file://` alone is the root folder to a URL parser; here it names no path at all.
  if (!url.slice(url.indexOf('//') + 2).includes('/')) throw invalidArgument(`Store URL "${redactUrl(url)}" has no path. ${USAGE}`)
  if (parsed.host !== '' && parsed.host !== 'localhost') {
    throw invalidArgument(
      `Store URL "${redactUrl(url)}" names a host ("${parsed.host}"); a local path is written ${parsed.protocol}${parsed.host}${parsed.pathname} or ${parsed.protocol}///absolute/path.`
    )
  }
  if (parsed.search !== '' || parsed.hash !== '')
    throw invalidArgument(
      `Store URL "${redactUrl(url)}" has a ${parsed.search ? 'query' : 'fragment'} ("${parsed.search || parsed.hash}"), which a ${parsed.protocol} URL does not read; remove it (a path with "?" or "#" is written ${parsed.protocol}<path>).`
    )
  try {
    return decodeURIComponent(parsed.pathname)
  } catch {
    throw invalidArgument(`The path in store URL "${redactUrl(url)}" has a malformed %-escape; write "%" as %25.`)
  }
}
