import { VaultError } from '../../core/errors.js'
import type { ListEntry, ListOptions } from '../../core/driver.js'
import { parseRedisUrl } from '../../core/server-url.js'
import { checkDatabase, loadIoredis } from '../redis.js'
import { bareText, checkedSession, credsValue, typedKeyName, type ValuePlace } from './checked-values.js'

/**
 * Reads auth states that other projects keep as one Redis hash per session, with a field
 * `creds` and a field `${type}-${id}` per key (ids as Baileys gives them, not file-name mangled):
 * Evolution API (values JSON-encoded twice) and fazer-ai/baileys-api (BufferJSON text). Only
 * reads: SCAN, HGET, HMGET, HGETALL.
 */
export interface RedisHashLayout {
  /** The project, for messages: 'Evolution API'. */
  project: string
  /** The hash of a session. */
  keyOf(session: string): string
  /** SCAN MATCH pattern of every session's hash. */
  pattern: string
  /** The session a hash key names, or undefined when the key is not one of its hashes. */
  sessionOf(key: string): string | undefined
  /** The BufferJSON text of a stored field value (unwraps a second JSON encoding). */
  text(stored: string, place: ValuePlace): string
  /** The field holding the creds, when the hash holds them. */
  credsField?: string
  /** Fields that are neither creds nor keys, left alone (baileys-api's `metadata`). */
  otherFields: readonly string[]
}

/** The part of an ioredis client the importers use. */
export interface ImportRedisClient {
  scan(cursor: string, ...args: Array<string | number>): Promise<[string, string[]]>
  hget(key: string, field: string): Promise<string | null>
  hmget(key: string, ...fields: string[]): Promise<Array<string | null>>
  hgetall(key: string): Promise<Record<string, string>>
  disconnect(): void
}

/** Where a Redis URL points, for messages (never the password). */
export function redisWhere(url: string): string {
  const parts = parseRedisUrl(url)
  return `${parts.host}:${parts.port}${parts.db === 0 ? '' : `/${parts.db}`}`
}

/** An ioredis client on a redis:// URL checked by parseRedisUrl (its `?prefix=` is the caller's). */
export async function connectImportRedis(url: string, project: string): Promise<ImportRedisClient> {
  const parts = parseRedisUrl(url)
  const where = redisWhere(url)
  const bare = new URL(url)
  bare.search = ''
  const Redis = await loadIoredis()
  const client = new Redis(bare.toString(), {
    db: parts.db,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 10_000,
    commandTimeout: 30_000,
    connectionName: 'baileys-vault-import'
  })
  client.on('error', () => undefined)
  try {
    await client.connect()
    await checkDatabase(client, parts.db, where)
  } catch (err) {
    client.disconnect()
    if (err instanceof VaultError) throw err
    throw new VaultError(
      'BACKEND_UNAVAILABLE',
      `Cannot connect to the ${project} Redis ${where}: ${(err as Error).message.replace(/\.+$/, '')}. Check that the server is running and the URL is right.`,
      { cause: err }
    )
  }
  return client
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

export function redisHashReader(client: ImportRedisClient, layout: RedisHashLayout) {
  const keyText = (session: string, type: string, id: string, stored: string) => bareText(layout.text(stored, { session, type, id }), { session, type, id })

  async function* rawEntries(session: string, type: string | undefined): AsyncGenerator<ListEntry> {
    const fields = await client.hgetall(layout.keyOf(session))
    for (const [field, stored] of Object.entries(fields)) {
      if (field === layout.credsField || layout.otherFields.includes(field)) continue
      const key = typedKeyName(field)
      if (!key)
        throw new VaultError(
          'UNSUPPORTED_FORMAT',
          `Session "${session}" in the ${layout.project} Redis has the field "${field}", which is not a key ${layout.project} writes ("<type>-<id>" with a Baileys 7 key type${layout.credsField ? `, or "${layout.credsField}"` : ''}). Nothing was copied: this importer does not know that layout.`
        )
      if (type !== undefined && key.type !== type) continue
      yield [key.type, key.id, keyText(session, key.type, key.id, stored)]
    }
  }

  return {
    async *sessions(): AsyncGenerator<string> {
      const found = new Set<string>()
      let cursor = '0'
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', layout.pattern, 'COUNT', 1000, 'TYPE', 'hash')
        for (const key of keys) {
          const session = layout.sessionOf(key)
          if (session !== undefined) found.add(session)
        }
        cursor = next
      } while (cursor !== '0')
      yield* [...found].sort(byText)
    },

    async getCreds(session: string): Promise<Uint8Array | undefined> {
      if (!layout.credsField) return undefined
      const stored = await client.hget(layout.keyOf(session), layout.credsField)
      return stored === null ? undefined : credsValue(layout.text(stored, { session }), session)
    },

    async get(session: string, type: string, ids: readonly string[]): Promise<Map<string, Uint8Array>> {
      const out = new Map<string, Uint8Array>()
      if (ids.length === 0) return out
      const values = await client.hmget(layout.keyOf(session), ...ids.map(id => `${type}-${id}`))
      ids.forEach((id, i) => {
        const stored = values[i]
        if (stored !== null && stored !== undefined) out.set(id, keyText(session, type, id, stored))
      })
      return out
    },

    list(session: string, type?: string, options?: ListOptions): AsyncIterable<ListEntry> {
      return checkedSession(session, rawEntries(session, type), !!options?.values)
    },

    async close(): Promise<void> {
      client.disconnect()
    }
  }
}

/** A SCAN MATCH pattern for keys starting with `text` literally. */
export const globLiteral = (text: string) => text.replace(/[*?[\]\\]/g, c => `\\${c}`)
