/** The SQLite store's schema version (in vault_meta); its own file so the shipped types need no @types/better-sqlite3. */
export const SQLITE_SCHEMA_VERSION = 1
