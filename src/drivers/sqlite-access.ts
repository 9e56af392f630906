import { loadPeer } from '../core/peer.js'
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs'
import type BetterSqlite3 from 'better-sqlite3'
import { dirname } from 'node:path'
import { VaultError } from '../core/errors.js'

/** better-sqlite3, imported when a SQLite database is first opened (the sqlite: store, the Baileys SQLite importer). */
export const loadBetterSqlite3 = (): Promise<typeof BetterSqlite3> =>
  loadPeer({ name: 'better-sqlite3', feature: 'Opening a SQLite database', load: async () => (await import('better-sqlite3')).default })

/** Suffixes of the files SQLite keeps next to a WAL database. */
export const SQLITE_SIDECARS = ['-wal', '-shm'] as const

/**
 * Creates a missing database file 0600 (and missing parent folders 0700) before SQLite opens
 * it: the file holds the account's private keys. SQLite gives the -wal and -shm files the
 * mode of the database file, so they follow. Returns whether the file was created here.
 */
export function createPrivateFile(path: string): boolean {
  if (existsSync(path)) return false
  const dir = dirname(path)
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 })
  try {
    closeSync(openSync(path, 'wx', 0o600))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false // created by another process meanwhile
    throw err
  }
  return true
}

/** Sets the database file and its -wal/-shm files (those that exist) to 0600, whatever the umask. */
export function restrictFiles(path: string): void {
  for (const file of [path, ...SQLITE_SIDECARS.map(s => path + s)]) {
    try {
      chmodSync(file, 0o600)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
  }
}

const PERMISSION_CODES = new Set([
  'EACCES',
  'EPERM',
  'EROFS',
  'SQLITE_READONLY',
  'SQLITE_READONLY_DIRECTORY',
  'SQLITE_READONLY_CANTINIT',
  'SQLITE_READONLY_DBMOVED',
  'SQLITE_CANTOPEN',
  'SQLITE_PERM',
  'SQLITE_AUTH'
])

/** True for an error that means "this user may not write (or open) the file or its folder". */
export const isPermissionError = (err: unknown): boolean => PERMISSION_CODES.has((err as { code?: string })?.code ?? '')

/** The error for a database this process may read but not write: names the path and what to check. */
export function notWritable(where: string, cause?: unknown): VaultError {
  const code = (cause as { code?: string })?.code ?? 'error'
  const detail = cause instanceof Error ? ` (${cause.message.startsWith(code) ? cause.message : `${code}: ${cause.message}`})` : ''
  return new VaultError(
    'BACKEND_UNAVAILABLE',
    `Permission denied: the SQLite database ${where} cannot be written by this user${detail}. SQLite needs write access to the file and to its folder (for the -wal and -shm files). ` +
      `Check their owner and mode (ls -l ${where} ${dirname(where)}), or run as the user that owns them. Read-only commands (ls, inspect, doctor, backup) work without write access.`,
    { cause }
  )
}

/**
 * Opens a database for reading without writing anything. A WAL database needs its -shm file;
 * when that does not exist and the folder is not writable (a user who may only read the
 * store), SQLite cannot open it read-only. Then, if no -wal file holds unmerged commits, the
 * file's bytes are read into memory and opened from there (its header marked as rollback
 * journal, in the copy only): the same data, and the file stays untouched.
 * `copied` says the connection reads such a copy (no second connection can be opened on it).
 */
export function openReadOnly(Database: typeof BetterSqlite3, path: string, where: string): { db: BetterSqlite3.Database; copied: boolean } {
  const db = new Database(path, { readonly: true, fileMustExist: true })
  try {
    db.prepare('SELECT 1 FROM sqlite_master LIMIT 1').get()
    return { db, copied: false }
  } catch (err) {
    db.close()
    const code = (err as { code?: string }).code
    if (code !== 'SQLITE_READONLY_DIRECTORY' && code !== 'SQLITE_CANTOPEN') throw err
    if (existsSync(path + '-wal')) {
      throw new VaultError(
        'BACKEND_UNAVAILABLE',
        `Cannot read the SQLite database ${where}: it has a ${where}-wal file and this user may not create ${where}-shm in its folder (${code}). Run as the user that owns it, or let its bot close it cleanly first.`,
        { cause: err }
      )
    }
    const bytes = readFileSync(path)
    // Bytes 18-19: file format read/write versions, 2 = WAL. A memory copy cannot be in WAL mode.
    if (bytes.length >= 20) bytes[18] = bytes[19] = 1
    return { db: new Database(bytes, { readonly: true }), copied: true }
  }
}
