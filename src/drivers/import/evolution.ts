import type { Driver, ListEntry, ListOptions } from '../../core/driver.js'
import { redactUrl } from '../../core/url.js'
import { createFileDriver } from '../file.js'
import { importDriver, type ImportSource } from './import-driver.js'
import { evolutionSessionTable, type SessionTable } from './evolution-postgres.js'
import { parseEvolutionUrl, type EvolutionRedis } from './evolution-url.js'
import { connectImportRedis, globLiteral, redisHashReader } from './redis-hash.js'
import { checkedSession, credsValue, unwrapJsonString } from './checked-values.js'

/**
 * Evolution API v2 (EvolutionAPI/evolution-api, src/utils/use-multi-file-auth-state-*.ts). The
 * session id is the instance's id (the "Instance".id cuid, also `instances/<id>/`). Which layout
 * an installation has follows from its settings (whatsapp.baileys.service.ts defineAuthState):
 *
 * - DATABASE_SAVE_DATA_INSTANCE with CACHE_REDIS_ENABLED (its .env.example): creds in the table
 *   "Session"("sessionId", "creds"), the text `JSON.stringify(JSON.stringify(creds, replacer))`;
 *   keys in the Redis hash `<CACHE_REDIS_PREFIX_KEY>:instance:<id>`, field `<type>-<id>`, value
 *   JSON-encoded twice as well (CacheService.hSet, then RedisCache.hSet, each JSON.stringify).
 * - DATABASE_SAVE_DATA_INSTANCE without Redis: creds as above; keys as Baileys' own files in
 *   `instances/<id>/` (`<type>-<id>.json` with Baileys' name mangling, BufferJSON text once), read
 *   here by the file: store, read-only.
 * - CACHE_REDIS_SAVE_INSTANCES: creds in the same Redis hash, field `creds`, encoded the same way.
 * - PROVIDER_ENABLED (an external file server over HTTP): not read; its storage is not in
 *   Evolution's source.
 * Evolution v1's `instances/<name>/` folders are plain Baileys folders: `file:` reads them.
 */
export { EVOLUTION_SCHEMES } from './evolution-url.js'

const PROJECT = 'Evolution API'
const unwrap = (stored: string, place: Parameters<typeof unwrapJsonString>[1]) => unwrapJsonString(stored, place, PROJECT)

/** Sessions of two sources, each sorted: merged, once each. */
async function* union(a: AsyncIterable<string>, b: AsyncIterable<string>): AsyncGenerator<string> {
  const all = new Set<string>()
  for await (const s of a) all.add(s)
  for await (const s of b) all.add(s)
  yield* [...all].sort()
}

async function redisHash(redis: EvolutionRedis, withCreds: boolean) {
  const client = await connectImportRedis(redis.url, PROJECT)
  const head = `${redis.prefix}:instance:`
  return redisHashReader(client, {
    project: PROJECT,
    keyOf: session => `${head}${session}`,
    pattern: `${globLiteral(head)}*`,
    sessionOf: key => (key.length > head.length ? key.slice(head.length) : undefined),
    text: unwrap,
    // In the database layouts a `creds` field is not Evolution's (it never writes one there): left alone.
    credsField: 'creds',
    otherFields: withCreds ? [] : ['creds']
  })
}

/** Keys from `instances/<id>/`: the file: store on the instances folder, read-only (each sub-folder a session). */
async function instanceFolders(folder: string) {
  const files = await createFileDriver({ path: folder, readOnly: true })
  return {
    sessions: () => files.sessions(),
    get: (session: string, type: string, ids: readonly string[]) => files.get(session, type, ids),
    list: (session: string, type?: string, options?: ListOptions): AsyncIterable<ListEntry> =>
      checkedSession(session, files.list(session, type, { values: true }), !!options?.values),
    close: () => files.close()
  }
}

export async function createEvolutionDriver(url: string): Promise<Driver> {
  const layout = parseEvolutionUrl(url)
  const label = redactUrl(url)
  if (layout.creds === 'redis') {
    const hash = await redisHash(layout.keys.redis, true)
    return importDriver({ kind: 'evolution', label, ...hash })
  }
  const table: SessionTable = await evolutionSessionTable({ url: layout.postgresUrl, schema: layout.schema })
  let keys: Awaited<ReturnType<typeof redisHash>> | Awaited<ReturnType<typeof instanceFolders>>
  try {
    keys = 'redis' in layout.keys ? await redisHash(layout.keys.redis, false) : await instanceFolders(layout.keys.instances)
  } catch (err) {
    await table.close()
    throw err
  }
  const source: ImportSource = {
    kind: 'evolution',
    label,
    sessions: () => union(table.sessions(), keys.sessions()),
    getCreds: async session => {
      const stored = await table.creds(session)
      return stored === undefined ? undefined : credsValue(unwrap(stored, { session }), session)
    },
    get: (session, type, ids) => keys.get(session, type, ids),
    list: (session, type, options) => keys.list(session, type, options),
    close: async () => {
      await Promise.allSettled([table.close(), keys.close()])
    }
  }
  return importDriver(source)
}
