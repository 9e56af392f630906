import type { Driver } from './core/driver.js'
import { invalidArgument } from './core/errors.js'
import { parseStoreUrl, redactUrl } from './core/url.js'
import type { AuthStateOptions } from './auth/auth-state.js'
import type { SqliteDriverOptions } from './drivers/sqlite.js'
import type { FileDriverOptions } from './drivers/file.js'
import type { PostgresDriverOptions } from './drivers/postgres.js'
import type { RedisDriverOptions } from './drivers/redis.js'
import { AuthStore } from './auth/auth-store.js'
import { plainCodec, sealedCodec } from './store/value-codec.js'
import type { EncryptionOptions } from './codec/seal.js'

export interface OpenStoreOptions extends AuthStateOptions {
  /** Encryption at rest (AES-256-GCM); see codec/seal.ts and the README's security section. */
  encryption?: EncryptionOptions
  /**
   * Open for reading only: nothing is created, replayed or deleted in the backend (no schema,
   * no journal replay), a backend that holds no baileys-vault store is NOT_FOUND (or
   * UNSUPPORTED_FORMAT), and every write or drop is refused with INVALID_ARGUMENT.
   */
  readOnly?: boolean
  /** Options for sqlite: stores (durability, busy timeout, a user-owned Database). */
  sqlite?: Omit<SqliteDriverOptions, 'path' | 'readOnly'>
  /** Options for file: stores (durability). */
  file?: Omit<FileDriverOptions, 'path' | 'readOnly'>
  /** Options for postgres:// stores (a user-owned Pool, schema, table prefix, pool settings). */
  postgres?: Omit<PostgresDriverOptions, 'url' | 'readOnly'>
  /** Options for redis:// stores (a user-owned client, key prefix, ioredis options). */
  redis?: Omit<RedisDriverOptions, 'url' | 'readOnly'>
}

/** Creates the driver for a URL. Each driver module is imported only when its scheme is used. */
async function driverFor(url: string, options: OpenStoreOptions): Promise<Driver> {
  const parsed = parseStoreUrl(url)
  const { kind, target } = parsed
  const { readOnly } = options
  switch (parsed.kind) {
    case 'memory':
      return (await import('./drivers/memory.js')).createMemoryDriver({ name: target || undefined, readOnly })
    case 'sqlite':
      return (await import('./drivers/sqlite.js')).createSqliteDriver({ ...options.sqlite, path: target, readOnly })
    case 'file':
      return (await import('./drivers/file.js')).createFileDriver({ ...options.file, path: target, readOnly })
    case 'postgres':
      return (await import('./drivers/postgres.js')).createPostgresDriver({ ...options.postgres, url: target, readOnly })
    case 'redis':
      return (await import('./drivers/redis.js')).createRedisDriver({ ...options.redis, url: target, readOnly })
    case 'import':
      // Another project's layout: read in place, never written, whatever readOnly says.
      return (await import('./drivers/import/index.js')).createImportDriver({ scheme: parsed.scheme, url: target })
    default:
      throw invalidArgument(`The ${kind} store is not available in this build of baileys-vault.`)
  }
}

/**
 * Opens a store: `memory:`, `sqlite:<path>`, `file:<folder>`, `postgres://…`, `redis://…`,
 * or an already-built Driver.
 */
export async function openStore(url: string | Driver, options: OpenStoreOptions = {}): Promise<AuthStore> {
  // Bad encryption options fail before any backend is opened.
  const sealed = options.encryption ? sealedCodec(options.encryption) : undefined
  // Another project's layout (an importer's URL) is always opened read-only.
  const readOnly = !!options.readOnly || (typeof url === 'string' && parseStoreUrl(url).kind === 'import')
  const driver = typeof url === 'string' ? await driverFor(url, { ...options, readOnly }) : url
  const label = typeof url === 'string' ? redactUrl(url) : `${driver.kind}:`
  const codec = sealed ?? plainCodec(!!driver.capabilities.bareJson)
  return new AuthStore(driver, codec, label, { readOnly }, { cacheEntries: options.cacheEntries })
}

/** Opens `url` and the auth state of one session; `close()` closes the store. */
async function useStoreAuthState(url: string, sessionId: string, options: OpenStoreOptions) {
  const store = await openStore(url, options)
  try {
    const auth = await store.useAuthState(sessionId)
    return { ...auth, store, close: () => store.close() }
  } catch (err) {
    await store.close()
    throw err
  }
}

/** The one-liner mirroring useMultiFileAuthState: a SQLite file, session 'default'. */
export const useSqliteAuthState = (path: string, sessionId = 'default', options: OpenStoreOptions = {}) =>
  useStoreAuthState(`sqlite:${path}`, sessionId, options)

/**
 * Drop-in for useMultiFileAuthState(folder): the same folder and files, made crash-safe.
 * An existing Baileys folder continues its login as session 'default'.
 */
export const useFileAuthState = (folder: string, sessionId = 'default', options: OpenStoreOptions = {}) =>
  useStoreAuthState(`file:${folder}`, sessionId, options)
