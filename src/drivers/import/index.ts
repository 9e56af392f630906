import type { Driver } from '../../core/driver.js'
import { invalidArgument } from '../../core/errors.js'
import { redactUrl } from '../../core/url.js'

/**
 * Opens another project's store layout for reading (migrate's source, ls, inspect, doctor).
 * Each importer lives in its own module, imported only when its scheme is used, and returns a
 * driver built with `importDriver` (./import-driver.ts): read-only whatever the caller asks.
 */
export async function createImportDriver({ scheme, url }: { scheme: string; url: string }): Promise<Driver> {
  switch (scheme) {
    case 'evolution+postgres':
    case 'evolution+postgresql':
    case 'evolution+redis':
    case 'evolution+rediss':
      return (await import('./evolution.js')).createEvolutionDriver(url)
    case 'baileys-api+redis':
    case 'baileys-api+rediss':
      return (await import('./baileys-api.js')).createBaileysApiDriver(url)
    case 'mysql-baileys':
      return (await import('./mysql-baileys.js')).createMysqlBaileysDriver({ url })
    case 'baileys-sqlite':
      return (await import('./baileys-sqlite.js')).createBaileysSqliteDriver({ url })
    case 'baileys-store+postgres':
    case 'baileys-store+mysql':
      return (await import('./baileys-store.js')).createBaileysStoreDriver({ scheme, url })
    default:
      throw invalidArgument(`No importer reads "${redactUrl(url)}" in this build of baileys-vault.`)
  }
}
