import type BetterSqlite3 from 'better-sqlite3'
import { VaultError } from '../core/errors.js'

import { SQLITE_SCHEMA_VERSION } from './sqlite-version.js'

export { SQLITE_SCHEMA_VERSION }

/** The tables of a baileys-vault SQLite store and the columns each must have. */
const TABLES: Record<string, string[]> = {
  vault_meta: ['key', 'value'],
  vault_creds: ['session', 'value'],
  vault_keys: ['session', 'type', 'id', 'value']
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS vault_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vault_creds (session TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS vault_keys (
  session TEXT NOT NULL, type TEXT NOT NULL, id TEXT NOT NULL, value BLOB NOT NULL,
  PRIMARY KEY (session, type, id)
) WITHOUT ROWID;`

/** Column names of a table; empty when it does not exist. PRAGMA table_info only reads. */
const columnsOf = (db: BetterSqlite3.Database, table: string): string[] =>
  (db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map(c => c.name)

/**
 * Refuses a database whose vault_* tables belong to someone else (same names, other columns):
 * creating ours next to them is impossible, and reading them would fail with SQL errors.
 * Returns whether vault_meta exists.
 */
export function refuseForeignTables(db: BetterSqlite3.Database, where: string): boolean {
  let hasMeta = false
  for (const [table, expected] of Object.entries(TABLES)) {
    const columns = columnsOf(db, table)
    if (columns.length === 0) continue
    if (table === 'vault_meta') hasMeta = true
    const missing = expected.filter(c => !columns.includes(c))
    if (missing.length > 0) {
      throw new VaultError(
        'UNSUPPORTED_FORMAT',
        `${where} has a table ${table} that is not baileys-vault's (no column ${missing.join(', ')}): this database belongs to another program. baileys-vault did not change it; use another file for the store.`
      )
    }
  }
  return hasMeta
}

const notAStore = (where: string, why: string) =>
  new VaultError('NOT_FOUND', `${where} is not a baileys-vault store (${why}). baileys-vault did not change it; check the path.`)

/**
 * Checks the schema, creating it in an empty or foreign-free database unless `readOnly`.
 * A newer version is refused, never touched; read-only opens never write a byte.
 */
export function prepareSchema(db: BetterSqlite3.Database, where: string, readOnly: boolean): void {
  const hasMeta = refuseForeignTables(db, where)
  if (readOnly) {
    if (!hasMeta) throw notAStore(where, 'no vault_meta table')
    for (const table of Object.keys(TABLES)) if (columnsOf(db, table).length === 0) throw notAStore(where, `no ${table} table`)
  } else {
    db.exec(SCHEMA)
  }
  const row = db.prepare(`SELECT value FROM vault_meta WHERE key = 'schema_version'`).get() as { value: string } | undefined
  if (!row) {
    if (readOnly) throw notAStore(where, 'vault_meta has no schema_version')
    db.prepare(`INSERT OR IGNORE INTO vault_meta (key, value) VALUES ('schema_version', @version)`).run({ version: String(SQLITE_SCHEMA_VERSION) })
    return
  }
  const version = Number(row.value)
  if (version !== SQLITE_SCHEMA_VERSION) {
    throw new VaultError(
      'UNSUPPORTED_FORMAT',
      `SQLite store ${where} has schema version ${row.value}; this baileys-vault reads version ${SQLITE_SCHEMA_VERSION}. ${version > SQLITE_SCHEMA_VERSION ? 'Upgrade baileys-vault.' : 'Run baileys-vault migrate from this file to a new one.'}`
    )
  }
}
