import { loadPeer } from '../core/peer.js'
import { createHash } from 'node:crypto'
import type { Driver, ListEntry, ListOptions } from '../core/driver.js'
import { VaultError, invalidArgument, renameTargetTaken } from '../core/errors.js'
import { pageThrough } from './paging.js'
import { refuseWrites } from './read-only.js'
import { GroupCommit } from './group-commit.js'
import { redisLease } from './redis-lease.js'
import { leaseChannel, redisLeaseEvents, type RedisSubscriberSource } from './redis-notify.js'
import { redisWriter } from './redis-write.js'
import { typeIdKey } from '../core/bytes.js'
import { REDIS_DEFAULT_DATABASES, parseRedisUrl } from '../core/server-url.js'

/**
 * Redis via `ioredis` (v5 or v6) or a user-owned client. Layout, with `prefix` = `vault`:
 *
 *   vault:meta                  hash    schema_version
 *   vault:sessions              zset    every session with creds or keys (score 0, lexicographic)
 *   vault:s:{session}:creds     string  creds bytes
 *   vault:s:{session}:keys      hash    field `type\0id` -> value bytes
 *   vault:s:{session}:index     zset    member `type\0id` (score 0): ordered listing, keyset paging
 *
 * A `get` of many ids is one HMGET; a `write` is one Lua script, shared by the writes of every
 * session that arrived meanwhile (group commit, redis-write.ts) (atomic: Redis runs it alone,
 * refuses it up front when out of memory rather than half-way, and logs it to the AOF as one
 * MULTI/EXEC block that a truncated AOF drops whole). Listing pages through the index with
 * ZRANGEBYLEX, so the order is stable, there are no duplicates, and one type is a range.
 * Needs a standalone Redis (or one shard): the session index and a session's keys are touched
 * by one script. Values are written and read as bytes (Buffers), never as strings.
 *
 * Durability: a write resolves when Redis has executed it, in memory. What survives depends on
 * the server's persistence:
 * - Redis' default config (RDB snapshots only, `appendonly no`): a restart or crash of Redis
 *   loses every write since the last snapshot — minutes of Signal state. Not enough for auth data.
 * - `appendonly yes` + `appendfsync everysec` (recommended minimum): acknowledged writes survive
 *   a crash or restart of Redis (they reach the OS before the reply); a power loss or kernel
 *   crash can lose about the last second.
 * - `appendonly yes` + `appendfsync always`: each write is fsync'd before Redis replies; survives
 *   power loss, at the cost of a disk flush per write.
 *
 * Outages: the client built from a URL does not queue commands while disconnected
 * (`enableOfflineQueue: false`, `maxRetriesPerRequest: 0`): a write during an outage rejects at
 * once (the store layer reports `BACKEND_UNAVAILABLE`), and a write in flight when the connection
 * drops rejects too and is never silently re-sent later. The client keeps reconnecting in the
 * background and the same store works again once Redis is back.
 */
export interface RedisDriverOptions {
  /**
   * `redis://[user:pass@]host:port[/db][?prefix=name]` (or `rediss://` for TLS). The `prefix`
   * query parameter sets `prefix` below; other parameters go to ioredis. Ignored when `client` is given.
   */
  url?: string
  /**
   * A user-owned client (an ioredis `Redis`, or anything with `callBuffer`); baileys-vault will
   * not close it. For prompt errors during outages configure it like the driver does:
   * `{ enableOfflineQueue: false, maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false }`,
   * and attach an 'error' listener.
   */
  client?: RedisClientLike
  /** Prefix of every key. Default `vault`. Lets several stores share one Redis database. */
  prefix?: string
  /** Extra ioredis options for the client built from `url` (tls, password, db, …). */
  clientOptions?: Record<string, unknown>
  /** A command that gets no reply within this time rejects (half-open connections). Default 10,000 ms. */
  commandTimeoutMs?: number
  /**
   * Group commit (default true): the batches of all sessions that arrive while a write is on its
   * way, or in the same event-loop turn, go in ONE script call (redis-write.ts): one command, one
   * reply, one AOF entry, each session's lease fence checked inside the script. Each write still
   * resolves only once Redis ran its group; a batch fenced out fails alone. `false`: one script
   * call per write, sent at once.
   */
  groupCommit?: boolean
  /**
   * Open for reading only (the CLI's ls, inspect, doctor, backup): sends no write command, not
   * even the schema marker; a prefix holding no baileys-vault store is NOT_FOUND.
   */
  readOnly?: boolean
}

/** The part of the ioredis API this driver uses. */
export interface RedisClientLike {
  callBuffer(command: string, ...args: Array<string | Buffer | number>): Promise<unknown>
}

export const REDIS_SCHEMA_VERSION = 1
const PAGE = 500
const DROP_SCRIPT = `
redis.call('UNLINK', KEYS[2], KEYS[3], KEYS[4])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1`

// KEYS: sessions, then creds/keys/index of `from`, then of `to`. Returns 0 (nothing moved)
// when `to` holds data. One script: Redis runs it alone, so the move is whole or not at all.
const RENAME_SCRIPT = `
if redis.call('EXISTS', KEYS[5], KEYS[6], KEYS[7]) > 0 then return 0 end
for i = 2, 4 do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('RENAME', KEYS[i], KEYS[i + 3]) end
end
redis.call('ZREM', KEYS[1], ARGV[1])
if redis.call('EXISTS', KEYS[5]) == 1 or redis.call('ZCARD', KEYS[7]) > 0 then redis.call('ZADD', KEYS[1], 0, ARGV[2]) end
return 1`

const sha1 = (text: string) => createHash('sha1').update(text).digest('hex')
const DROP_SHA = sha1(DROP_SCRIPT)
const RENAME_SHA = sha1(RENAME_SCRIPT)
const field = typeIdKey

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- ioredis' ESM and CJS builds export different shapes
export const loadIoredis = (): Promise<any> =>
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
  loadPeer({ name: 'ioredis', feature: 'The redis:// store', load: async () => ((m: any) => m.Redis ?? m.default)(await import('ioredis')) })

/**
 * The URL for ioredis without our `prefix` parameter, every part checked first (core/server-url):
 * ioredis itself reads `/abc` as database 0 and turns any query parameter into a client option.
 */
function splitUrl(url: string): { url: string; db: number; prefix?: string; where: string } {
  const parts = parseRedisUrl(url)
  const parsed = new URL(url)
  parsed.search = ''
  const where = `${parts.host}:${parts.port}${parts.db === 0 ? '' : `/${parts.db}`}`
  return { url: parsed.toString(), db: parts.db, prefix: parts.prefix, where }
}

/**
 * A database number the server does not have makes ioredis' SELECT fail and leaves the client on
 * database 0, where the store would then read and write. So SELECT is sent once more here and its
 * answer checked; the message gives the valid range from the server's `databases` setting when
 * CONFIG is allowed (managed Redis often refuses it: then Redis' default, 16).
 */
export async function checkDatabase(client: RedisClientLike, db: number, where: string): Promise<void> {
  let databases = REDIS_DEFAULT_DATABASES
  let known = false
  try {
    const reply = (await client.callBuffer('CONFIG', 'GET', 'databases')) as Buffer[] | null
    const n = Number(reply?.[1]?.toString())
    if (Number.isInteger(n) && n > 0) {
      databases = n
      known = true
    }
  } catch {
    // CONFIG refused (ACL, managed service): fall back to Redis' default
  }
  let refused = db >= databases
  if (!refused) {
    try {
      await client.callBuffer('SELECT', db)
    } catch (err) {
      if (!/out of range|invalid/i.test((err as Error).message ?? '')) throw err
      refused = true
    }
  }
  if (refused)
    throw invalidArgument(
      known || db >= databases
        ? `The Redis store ${where} names database ${db}; ${known ? 'this server has' : 'a Redis server has by default'} ${databases} databases, so the database is a whole number from 0 to ${databases - 1}.`
        : `The Redis store ${where} names database ${db}, which this server does not have (SELECT ${db} was refused: its \`databases\` setting is lower). Use a smaller database number, from 0.`
    )
}

/**
 * Settings that lose acknowledged writes: without AOF (`appendonly no`, Redis' default) a restart
 * or crash of Redis loses every write since the last RDB snapshot. Asked when CONFIG is allowed;
 * a refused CONFIG (ACL, managed service) is not an error and yields no warning.
 */
async function durabilityWarnings(client: RedisClientLike, where: string): Promise<string[]> {
  let reply: Buffer[] | null
  try {
    reply = (await client.callBuffer('CONFIG', 'GET', 'appendonly')) as Buffer[] | null
  } catch {
    return []
  }
  if (reply?.[1]?.toString() !== 'no') return []
  return [
    `The Redis server ${where} runs without AOF (appendonly no): a restart or crash of Redis loses every write since its last RDB snapshot, minutes of Signal state (Bad MAC, a relink). Set appendonly yes (and appendfsync everysec or always) in its config.`
  ]
}

export async function createRedisDriver(options: RedisDriverOptions): Promise<Driver> {
  let client: RedisClientLike
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- an ioredis client of the loaded module
  let owned: any
  let where = 'server'
  let prefix = options.prefix
  if (options.client) {
    client = options.client
  } else {
    if (!options.url) throw invalidArgument('The redis driver needs a url (redis://host:port) or a client.')
    const split = splitUrl(options.url)
    where = split.where
    prefix ??= split.prefix
    const Redis = await loadIoredis()
    owned = new Redis(split.url, {
      db: split.db,
      lazyConnect: true,
      // Fail fast instead of queueing while disconnected; never re-send a write whose outcome
      // the caller was already told was a failure.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      // Keep reconnecting forever, backing off to one attempt every 2 s.
      retryStrategy: (times: number) => Math.min(50 * times, 2000),
      connectTimeout: 10_000,
      commandTimeout: options.commandTimeoutMs ?? 10_000,
      connectionName: 'baileys-vault',
      ...options.clientOptions
    })
    // Connection errors surface as rejected commands; the event itself only needs a listener.
    owned.on('error', () => undefined)
    try {
      await owned.connect()
    } catch (err) {
      owned.disconnect()
      throw new VaultError(
        'BACKEND_UNAVAILABLE',
        `Cannot connect to the Redis store ${where}: ${(err as Error).message.replace(/\.+$/, '')}. Check that the server is running and the URL is right.`,
        { cause: err }
      )
    }
    client = owned
    try {
      await checkDatabase(client, Number(options.clientOptions?.db ?? split.db), where)
    } catch (err) {
      owned.disconnect()
      throw err
    }
  }
  prefix ??= 'vault'
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  if (prefix.length === 0 || prefix.length > 64 || /[\u0000-\u001f\u007f]/.test(prefix)) {
    owned?.disconnect()
    throw invalidArgument('The Redis key prefix must be 1-64 characters without control characters.')
  }

  const metaKey = `${prefix}:meta`
  const sessionsKey = `${prefix}:sessions`
  const credsKey = (s: string) => `${prefix}:s:${s}:creds`
  const keysKey = (s: string) => `${prefix}:s:${s}:keys`
  const indexKey = (s: string) => `${prefix}:s:${s}:index`
  const leaseKey = (s: string) => `${prefix}:s:${s}:lease`
  const call = (command: string, ...args: Array<string | Buffer | number>) => client.callBuffer(command, ...args)

  /**
   * EVALSHA, loading the script on NOSCRIPT (a restarted server has an empty script cache).
   * A plain .catch, not an async function: every promise made per write is copied onto by each
   * AsyncLocalStorage in the process (one per Baileys socket).
   */
  const runScript = (sha: string, script: string, keys: string[], args: Array<string | Buffer>) =>
    call('EVALSHA', sha, keys.length, ...keys, ...args).catch((err: unknown) => {
      if (!/NOSCRIPT/.test((err as Error)?.message ?? '')) throw err
      return call('EVAL', script, keys.length, ...keys, ...args)
    })

  try {
    if (!options.readOnly) await call('HSETNX', metaKey, 'schema_version', String(REDIS_SCHEMA_VERSION))
    const raw = (await call('HGET', metaKey, 'schema_version')) as Buffer | null
    if (!raw && options.readOnly) {
      throw new VaultError(
        'NOT_FOUND',
        `Redis ${where} holds no baileys-vault store under the prefix "${prefix}" (no ${metaKey} hash). Check the URL, the database number and ?prefix=.`
      )
    }
    const version = raw ? raw.toString() : String(REDIS_SCHEMA_VERSION)
    const n = Number(version)
    if (n !== REDIS_SCHEMA_VERSION) {
      throw new VaultError(
        'UNSUPPORTED_FORMAT',
        `Redis store ${where} (prefix "${prefix}") has schema version ${version}; this baileys-vault reads version ${REDIS_SCHEMA_VERSION}. ${n > REDIS_SCHEMA_VERSION ? 'Upgrade baileys-vault.' : 'Run baileys-vault migrate to a new prefix.'}`
      )
    }
  } catch (err) {
    owned?.disconnect()
    if (err instanceof VaultError) throw err
    throw new VaultError('BACKEND_UNAVAILABLE', `Cannot open the Redis store ${where}: ${(err as Error).message}`, { cause: err })
  }

  /** Splits an index member `type\0id` back into its parts. */
  const parseMember = (member: Buffer): [string, string] => {
    const nul = member.indexOf(0)
    return [member.subarray(0, nul).toString('utf8'), member.subarray(nul + 1).toString('utf8')]
  }
  const exclusive = (member: Buffer) => Buffer.concat([Buffer.from('('), member])
  const { applyGroup, writeOne } = redisWriter({
    runScript,
    keys: { sessions: sessionsKey, creds: credsKey, keys: keysKey, index: indexKey, lease: leaseKey }
  })
  // One connection applies scripts in the order sent: a group need not wait for the previous reply.
  const groups = options.groupCommit === false ? undefined : new GroupCommit({ applyGroup, maxInFlight: options.client ? 1 : 8 })
  let closed = false

  const warnings = await durabilityWarnings(client, where)

  const channel = leaseChannel(prefix)
  const leaseEvents = redisLeaseEvents({
    source: (owned ?? options.client) as RedisSubscriberSource | undefined,
    channel,
    publish: (ch, message) => call('PUBLISH', ch, message)
  })
  const driver: Driver = {
    kind: 'redis',
    warnings,
    capabilities: { snapshot: false, rename: true },
    lease: redisLease(runScript, leaseKey, { channel, extras: leaseEvents }),

    async getCreds(session) {
      const value = (await call('GET', credsKey(session))) as Buffer | null
      return value ?? undefined
    },

    async get(session, type, ids) {
      const result = new Map<string, Uint8Array>()
      if (ids.length === 0) return result
      const values = (await call('HMGET', keysKey(session), ...ids.map(id => field(type, id)))) as Array<Buffer | null>
      ids.forEach((id, i) => {
        const value = values[i]
        if (value) result.set(id, value)
      })
      return result
    },

    write: groups ? (session, batch) => groups.write(session, batch) : writeOne,

    list(session, type?: string, options: ListOptions = {}): AsyncIterable<ListEntry> {
      const min = type === undefined ? Buffer.from('-') : Buffer.from(`[${type}\u0000`)
      const max = type === undefined ? '+' : `(${type}\u0001`
      const pages = pageThrough<Buffer, Buffer>(
        async last => (await call('ZRANGEBYLEX', indexKey(session), last ? exclusive(last) : min, max, 'LIMIT', 0, PAGE)) as Buffer[],
        PAGE,
        m => m
      )
      if (!options.values) {
        return (async function* () {
          for await (const member of pages) yield parseMember(member) as ListEntry
        })()
      }
      // With values: one HMGET per page. A key deleted between the two calls is skipped.
      return (async function* () {
        let batch: Buffer[] = []
        const flush = async function* () {
          const values = (await call('HMGET', keysKey(session), ...batch)) as Array<Buffer | null>
          for (const [i, member] of batch.entries()) {
            const value = values[i]
            if (value) yield [...parseMember(member), value] as ListEntry
          }
          batch = []
        }
        for await (const member of pages) {
          batch.push(member)
          if (batch.length === PAGE) yield* flush()
        }
        if (batch.length > 0) yield* flush()
      })()
    },

    sessions() {
      return pageThrough<Buffer, string>(
        async last => (await call('ZRANGEBYLEX', sessionsKey, last ? exclusive(last) : '-', '+', 'LIMIT', 0, PAGE)) as Buffer[],
        PAGE,
        s => s.toString('utf8')
      )
    },

    async drop(session) {
      await groups?.drain() // after the writes made before it, as when each write was sent at once
      await runScript(DROP_SHA, DROP_SCRIPT, [sessionsKey, credsKey(session), keysKey(session), indexKey(session)], [session])
    },

    async rename(from, to) {
      await groups?.drain()
      const keys = [sessionsKey, credsKey(from), keysKey(from), indexKey(from), credsKey(to), keysKey(to), indexKey(to)]
      const moved = await runScript(RENAME_SHA, RENAME_SCRIPT, keys, [from, to])
      if (Number(moved) !== 1) throw renameTargetTaken(to)
    },

    async close() {
      if (closed) return
      closed = true
      await groups?.drain()
      leaseEvents.close()
      if (!owned) return
      if (owned.status === 'ready') await owned.quit().catch(() => owned.disconnect())
      else owned.disconnect()
    }
  }
  return options.readOnly ? refuseWrites(driver, `redis://${where}`) : driver
}
