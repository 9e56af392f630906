/**
 * Every part of a `redis://` or `postgres://` store URL, checked: a part that is malformed, out of
 * range or unknown is INVALID_ARGUMENT naming the part and what is valid, never a silent default
 * (ioredis reads `/abc` as database 0 and turns any query parameter into a client option; pg
 * passes unknown parameters through unread). What is left out has one documented meaning: no
 * port is the default port, no Redis database is database 0.
 */
import { invalidArgument } from './errors.js'
import { redactUrl } from './redact-url.js'

export interface RedisUrl {
  tls: boolean
  host: string
  port: number
  /** The logical database (SELECT n). The driver also checks it against the server's `databases`. */
  db: number
  /** Our key prefix (`?prefix=`), when given. */
  prefix?: string
}

export interface PostgresUrl {
  /** Empty when the host comes from `?host=` (a Unix socket folder). */
  host: string
  port: number
  database: string
}

/** Databases a Redis server has when its `databases` setting cannot be read (its default). */
export const REDIS_DEFAULT_DATABASES = 16

/** Connection parameters pg reads from a URL's query (pg-connection-string and pg's ConnectionParameters). */
const POSTGRES_PARAMS = new Set([
  'host',
  'user',
  'password',
  'ssl',
  'sslmode',
  'sslcert',
  'sslkey',
  'sslrootcert',
  'sslnegotiation',
  'uselibpqcompat',
  'application_name',
  'fallback_application_name',
  'options',
  'client_encoding',
  'connect_timeout',
  'keepalives',
  'keepalives_idle',
  'statement_timeout',
  'query_timeout',
  'lock_timeout',
  'idle_in_transaction_session_timeout'
])

const WHOLE_NUMBER = /^(0|[1-9][0-9]*)$/

function parseUrl(url: string, form: string): URL {
  try {
    return new URL(url)
  } catch {
    throw invalidArgument(`Store URL "${redactUrl(url)}" is not a valid URL; write it as ${form}.`)
  }
}

function checkPort(parsed: URL, url: string, fallback: number): number {
  // URL already refuses a port that is not 0-65535 digits; 0 is not a port a server listens on.
  if (parsed.port === '') return fallback
  const port = Number(parsed.port)
  if (port < 1) throw invalidArgument(`The port in store URL "${redactUrl(url)}" is ${parsed.port}; a port is a whole number from 1 to 65535.`)
  return port
}

function checkNoFragment(parsed: URL, url: string): void {
  // A bare trailing '#' leaves URL.hash empty: look at the text.
  if (url.includes('#'))
    throw invalidArgument(
      `Store URL "${redactUrl(url)}" ends in a fragment ("${parsed.hash || '#'}"); a store URL has none: remove it (a "#" in a password is written %23).`
    )
}

/** A percent-decoded URL part; a malformed escape (`%zz`) is refused, not passed on as it is. */
function decodePart(text: string, part: string, url: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    throw invalidArgument(`The ${part} in store URL "${redactUrl(url)}" has a malformed %-escape; write "%" as %25.`)
  }
}

/**
 * A part of the URL for a message. Not shown when it holds ':' or '@': in a garbled URL the
 * "database" or "parameter" can be a password in the wrong place (`redis://b/ot:pw@host`).
 */
const quoted = (text: string) => (/^[^:@]{0,40}$/.test(text) ? `"${text}"` : '(not shown: it holds ":" or "@", perhaps a password in the wrong place)')

/** A name may not be percent-garbled into control characters. */
// eslint-disable-next-line no-control-regex -- control characters are what is refused
const plainText = (text: string) => !/[\u0000-\u001f\u007f]/.test(text)

export function parseRedisUrl(url: string): RedisUrl {
  const form = 'redis://[user:pass@]host[:port][/db][?prefix=name] (rediss:// for TLS)'
  const parsed = parseUrl(url, form)
  const shown = redactUrl(url)
  if (parsed.hostname === '') throw invalidArgument(`Store URL "${shown}" names no host; write it as ${form}.`)
  const port = checkPort(parsed, url, 6379)
  checkNoFragment(parsed, url)
  const path = parsed.pathname
  let db = 0
  if (path !== '' && path !== '/') {
    const text = decodePart(path.slice(1), 'database', url)
    if (!WHOLE_NUMBER.test(text) || Number(text) > Number.MAX_SAFE_INTEGER)
      throw invalidArgument(
        `The database in store URL "${shown}" is ${quoted(text)}; a Redis database is a whole number from 0 to ${REDIS_DEFAULT_DATABASES - 1} (0 to the server's \`databases\` setting minus one), e.g. redis://host:6379/0.`
      )
    db = Number(text)
  }
  let prefix: string | undefined
  for (const [key, value] of parsed.searchParams) {
    if (key !== 'prefix')
      throw invalidArgument(
        `Store URL "${shown}" has the parameter ${quoted(key)}; the only parameter of a Redis store URL is ?prefix=name (client settings go in the redis.clientOptions of openStore).`
      )
    if (prefix !== undefined) throw invalidArgument(`Store URL "${shown}" gives ?prefix= twice; give it once.`)
    prefix = value
  }
  return { tls: parsed.protocol.toLowerCase() === 'rediss:', host: parsed.hostname, port, db, prefix }
}

export function parsePostgresUrl(url: string): PostgresUrl {
  const form = 'postgres://user:pass@host[:port]/database[?sslmode=…]'
  const parsed = parseUrl(url, form)
  const shown = redactUrl(url)
  const socketHost = parsed.searchParams.get('host')
  if (parsed.hostname === '' && !socketHost) throw invalidArgument(`Store URL "${shown}" names no host; write it as ${form}.`)
  const port = checkPort(parsed, url, 5432)
  checkNoFragment(parsed, url)
  const database = decodePart(parsed.pathname.slice(1), 'database', url)
  if (database === '' || database.includes('/') || !plainText(database))
    throw invalidArgument(
      `Store URL "${shown}" ${database === '' ? 'names no database' : `names the database ${quoted(database)}, which is not one name`}; write it as ${form} (a database name without "/" or control characters).`
    )
  for (const key of parsed.searchParams.keys()) {
    if (!POSTGRES_PARAMS.has(key))
      throw invalidArgument(
        `Store URL "${shown}" has the parameter ${quoted(key)}, which is not a PostgreSQL connection parameter; valid ones are ${[...POSTGRES_PARAMS].join(', ')} (pool settings go in the postgres.poolOptions of openStore).`
      )
  }
  return { host: parsed.hostname, port, database }
}
