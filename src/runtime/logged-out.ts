/**
 * What a 401 (or logout()) does to the stored session: a backup first (sealed when the store is
 * encrypted), then the session is cleared. Nothing is cleared if the backup failed.
 */
import { mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { VaultAuthState } from '../auth/auth-state.js'
import type { Store } from '../store/store.js'
import { backup } from '../tools/backup.js'
import { sessionHasData } from '../tools/sessions.js'

/** A file name from the session id and the time, safe on every file system. */
export const backupFileName = (sessionId: string, reason: string, at = new Date()): string =>
  `${sessionId.replace(/[^A-Za-z0-9._-]/g, '_')}-${reason}-${at.toISOString().replace(/[:.]/g, '-')}.vault.gz`

/** Backs the session up into `dir`, then clears it. Resolves with the backup file (none if the session had no data). */
export async function backupAndClear(
  store: Store,
  sessionId: string,
  auth: VaultAuthState | undefined,
  dir: string,
  reason: string
): Promise<string | undefined> {
  let file: string | undefined
  if (await sessionHasData(store, sessionId)) {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    file = resolve(join(dir, backupFileName(sessionId, reason)))
    await backup(store, file, { sessions: [sessionId] })
  }
  // keys.clear() also empties the shared read cache, so a later auth state does not see old keys.
  if (auth) await auth.state.keys.clear()
  await store.drop(sessionId)
  return file
}
