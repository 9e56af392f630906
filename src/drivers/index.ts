/**
 * baileys-vault/drivers: the storage backends, for stores on clients you own
 * (`openStore(await createPostgresDriver({ pool }))`), and the Driver contract a new backend
 * implements (prove it with baileys-vault/testing).
 */
export type { Driver, DriverCapabilities, WriteBatch, ListEntry, ListOptions, SnapshotReader, LeaseCapability, LeaseGrant, LeaseInfo } from '../core/driver.js'
export { leaseOwner, LEASE_TTL_FLOOR_MS } from './shared-lease.js'
export { createMemoryDriver, type MemoryDriverOptions } from './memory.js'
export { createSqliteDriver, type SqliteDriverOptions } from './sqlite.js'
export { createFileDriver, type FileDriverOptions } from './file.js'
export { createPostgresDriver, type PostgresDriverOptions } from './postgres.js'
export type { PgPoolLike } from './pg-types.js'
export { createRedisDriver, type RedisDriverOptions, type RedisClientLike } from './redis.js'
export { parseStoreUrl, redactUrl, type StoreKind, type ParsedStoreUrl } from '../core/url.js'
