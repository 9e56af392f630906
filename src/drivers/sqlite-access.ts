import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs'
import { dirname } from 'node:path'
import { VaultError } from '../core/errors.js'

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

const PERMISSION_CODES = new Set(['EACCES', 'EPERM', 'EROFS', 'SQLITE_READONLY', 'SQLITE_READONLY_DIRECTORY', 'SQLITE_READONLY_CANTINIT', 'SQLITE_READONLY_DBMOVED', 'SQLITE_CANTOPEN', 'SQLITE_PERM', 'SQLITE_AUTH'])

/** True for an error that means "this user may not write (or open) the file or its folder". */
export const isPermissionError = (err: unknown): boolean => PERMISSION_CODES.has((err as { code?: string })?.code ?? '')

/** The error for a database this process may read but not write: names the path and what to check. */
export function notWritable(where: string, cause?: unknown): VaultError {
  const detail = cause instanceof Error ? ` (${(cause as { code?: string }).code ?? 'error'}: ${cause.message})` : ''
  return new VaultError(
    'BACKEND_UNAVAILABLE',
    `Permission denied: the SQLite database ${where} cannot be written by this user${detail}. SQLite needs write access to the file and to its folder (for the -wal and -shm files). ` +
      `Check their owner and mode (ls -l ${where} ${dirname(where)}), or run as the user that owns them. Read-only commands (ls, inspect, doctor, backup) work without write access.`,
    { cause }
  )
}
