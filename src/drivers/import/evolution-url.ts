import { existsSync, statSync } from 'node:fs'
import { VaultError, invalidArgument } from '../../core/errors.js'
import { parsePostgresUrl, parseRedisUrl } from '../../core/server-url.js'
import { redactUrl } from '../../core/url.js'

/**
 * The URLs of Evolution API's auth-state layouts (see evolution.ts):
 *
 *   evolution+postgres://user:pass@host:5432/db[?schema=…](&redis=redis://…[?prefix=…] | &instances=<folder>)
 *   evolution+redis://[:pass@]host:6379[/db][?prefix=…]
 *
 * The PostgreSQL part is Evolution's DATABASE_CONNECTION_URI (its Prisma `?schema=` included),
 * `redis=` its CACHE_REDIS_URI with CACHE_REDIS_PREFIX_KEY as `?prefix=`, `instances=` its
 * `instances/` folder. Every part is checked; the messages never show a password.
 */
export const EVOLUTION_SCHEMES = ['evolution+postgres', 'evolution+postgresql', 'evolution+redis', 'evolution+rediss']

/** Evolution's CACHE_REDIS_PREFIX_KEY when unset (src/config/env.config.ts). */
export const EVOLUTION_DEFAULT_PREFIX = 'evolution-cache'

export interface EvolutionRedis {
  url: string
  prefix: string
}

export type EvolutionLayout =
  /** Creds in "Session", keys in the Redis hash `<prefix>:instance:<id>` (CACHE_REDIS_ENABLED). */
  | { creds: 'postgres'; postgresUrl: string; schema: string; keys: { redis: EvolutionRedis } }
  /** Creds in "Session", keys in `instances/<id>/` (no Redis cache). */
  | { creds: 'postgres'; postgresUrl: string; schema: string; keys: { instances: string } }
  /** Creds and keys in the Redis hash (CACHE_REDIS_SAVE_INSTANCES). */
  | { creds: 'redis'; keys: { redis: EvolutionRedis } }

const FORM = 'evolution+postgres://user:pass@host/db?redis=redis://host:6379/6?prefix=evolution (or &instances=/path/to/instances)'
// eslint-disable-next-line no-control-regex -- control characters are what is refused
const PLAIN = /^[^\u0000-\u001f\u007f"]{1,63}$/

function evolutionRedis(url: string, outer: string): EvolutionRedis {
  if (!/^rediss?:\/\//i.test(url))
    throw invalidArgument(`The redis= part of "${redactUrl(outer)}" is not a redis:// URL; give Evolution's CACHE_REDIS_URI there, e.g. ${FORM}.`)
  const parts = parseRedisUrl(url)
  const prefix = parts.prefix ?? EVOLUTION_DEFAULT_PREFIX
  if (prefix === '' || !PLAIN.test(prefix))
    throw invalidArgument(
      `The ?prefix= of the Redis URL in "${redactUrl(outer)}" must be Evolution's CACHE_REDIS_PREFIX_KEY: 1-63 characters, no control characters or quotes.`
    )
  return { url, prefix }
}

/** The one value of a parameter, or undefined; given twice is an error. */
function single(params: URLSearchParams, name: string, url: string): string | undefined {
  const values = params.getAll(name)
  if (values.length > 1) throw invalidArgument(`Store URL "${redactUrl(url)}" gives ${name}= ${values.length} times; give it once.`)
  params.delete(name)
  return values[0]
}

export function parseEvolutionUrl(url: string): EvolutionLayout {
  const colon = url.indexOf(':')
  const scheme = url.slice(0, colon).toLowerCase()
  const inner = url.slice('evolution+'.length)
  if (scheme === 'evolution+redis' || scheme === 'evolution+rediss') return { creds: 'redis', keys: { redis: evolutionRedis(inner, url) } }

  let parsed: URL
  try {
    parsed = new URL(inner)
  } catch {
    throw invalidArgument(`Store URL "${redactUrl(url)}" is not a valid URL; write it as ${FORM}.`)
  }
  const params = parsed.searchParams
  const schema = single(params, 'schema', url) ?? 'public'
  if (!PLAIN.test(schema))
    throw invalidArgument(`The schema= of "${redactUrl(url)}" must be a PostgreSQL schema name (1-63 characters, no quotes or control characters).`)
  const redis = single(params, 'redis', url)
  const instances = single(params, 'instances', url)
  if (params.has('prefix'))
    throw invalidArgument(`Store URL "${redactUrl(url)}" has prefix= outside the Redis URL; put Evolution's CACHE_REDIS_PREFIX_KEY on the Redis URL: ${FORM}.`)
  parsed.search = params.toString()
  const postgresUrl = parsed.toString()
  // Checks host, port, database and the remaining (pg) parameters.
  parsePostgresUrl(postgresUrl)
  if ((redis === undefined) === (instances === undefined))
    throw invalidArgument(
      `Store URL "${redactUrl(url)}" ${redis === undefined ? 'does not say' : 'gives two places for'} where Evolution API kept the keys: add redis=<CACHE_REDIS_URI> when CACHE_REDIS_ENABLED=true, or instances=<its instances folder> otherwise (one of them), e.g. ${FORM}.`
    )
  if (redis !== undefined) return { creds: 'postgres', postgresUrl, schema, keys: { redis: evolutionRedis(redis, url) } }
  const folder = instances!
  if (folder === '' || !existsSync(folder) || !statSync(folder).isDirectory())
    throw new VaultError(
      'NOT_FOUND',
      `The instances folder "${folder}" of "${redactUrl(url)}" does not exist or is not a folder (relative paths are relative to ${process.cwd()}).`
    )
  return { creds: 'postgres', postgresUrl, schema, keys: { instances: folder } }
}
