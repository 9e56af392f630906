import { randomBytes } from 'node:crypto'
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { VaultError } from '../core/errors.js'
import { syncDir } from '../drivers/file-io.js'
import type { Store } from '../store/store.js'
import { backup, type BackupResult } from '../tools/backup.js'
import { firstTime } from '../store/warn-once.js'

/**
 * Scheduled backups (`run --backup-every`, README "Keeping a session alive"). Every `everyMs` each
 * session is written to its own file with the backup tool (sealed when the store is encrypted;
 * temp file, fsync, rename, then the folder fsync'd, so a crash never leaves a half file under a
 * backup's name). Retention deletes only files this schedule wrote: they are recorded in a
 * ledger in the folder, and a file that is not in the ledger is never touched. A failed backup
 * is reported through `onError` and tried again at the next tick; it never stops a session.
 */
export interface BackupScheduleOptions {
  store: Store
  /** Folder for the backup files; created (0700) when missing. */
  dir: string
  /** Time between two rounds, in ms. */
  everyMs: number
  /** Backups kept per session; older ones written by this schedule are deleted. */
  keep: number
  /** The sessions to back up at each round (read at every tick, so new sessions join). */
  sessions: () => readonly string[]
  onBackup?: (event: { session: string; file: string; result: BackupResult }) => void
  onError?: (event: { session: string; error: unknown }) => void
  /**
   * Said once per process: the backups are written unencrypted (the store has no key), so each
   * file holds the account's private keys in the clear, like the `backup` command warns.
   */
  onWarning?: (message: string) => void
}

export interface BackupSchedule {
  /** Runs one round now (also what each tick does); resolves when it is done. */
  runNow(): Promise<void>
  /** Stops the timer and waits for a round in progress. */
  stop(): Promise<void>
}

export const LEDGER_FILE = '.baileys-vault-backups.json'
const LEDGER_FORMAT = 'baileys-vault-backup-schedule'

interface LedgerEntry {
  session: string
  file: string
  createdAt: string
}

export function scheduleBackups(options: BackupScheduleOptions): BackupSchedule {
  if (!Number.isInteger(options.keep) || options.keep < 1) {
    throw new VaultError('INVALID_ARGUMENT', `Backup retention (keep) must be a whole number of at least 1; got ${options.keep}.`)
  }
  if (!Number.isFinite(options.everyMs) || options.everyMs < 1) {
    throw new VaultError('INVALID_ARGUMENT', `Backup interval must be a positive number of ms; got ${options.everyMs}.`)
  }
  let round: Promise<void> | undefined
  let stopped = false

  const runNow = (): Promise<void> => {
    // Rounds never overlap: a slow backup delays the next round instead of doubling the load.
    round ??= backupAll(options).finally(() => {
      round = undefined
    })
    return round
  }
  const timer = setInterval(() => {
    if (!stopped) void runNow()
  }, options.everyMs)

  return {
    runNow,
    async stop() {
      stopped = true
      clearInterval(timer)
      await round
    }
  }
}

async function backupAll(options: BackupScheduleOptions): Promise<void> {
  await mkdir(options.dir, { recursive: true, mode: 0o700 })
  const ledger = await readLedger(options.dir)
  for (const session of options.sessions()) {
    try {
      const createdAt = new Date()
      const file = join(options.dir, backupFileName(session, createdAt))
      const result = await backup(options.store, file, { sessions: [session] })
      if (!result.sealed) warnPlaintext(options)
      await syncDir(options.dir, true)
      ledger.push({ session, file: basename(file), createdAt: createdAt.toISOString() })
      await writeLedger(options.dir, ledger)
      options.onBackup?.({ session, file, result })
      await prune(options.dir, ledger, session, options.keep)
    } catch (error) {
      options.onError?.({ session, error })
    }
  }
}

function warnPlaintext(options: BackupScheduleOptions): void {
  const message = `scheduled backups in ${options.dir} are NOT encrypted (the store has no key): each file holds the account's private keys in the clear (mode 0600). Set BAILEYS_VAULT_KEY to seal them.`
  if (firstTime(message)) options.onWarning?.(message)
}

/** Deletes this session's oldest scheduled backups beyond `keep`: only files the ledger lists. */
async function prune(dir: string, ledger: LedgerEntry[], session: string, keep: number): Promise<void> {
  const mine = ledger.filter(e => e.session === session).sort((a, b) => a.createdAt.localeCompare(b.createdAt))
  const old = mine.slice(0, Math.max(0, mine.length - keep))
  if (old.length === 0) return
  for (const entry of old) await rm(join(dir, entry.file), { force: true })
  const gone = new Set(old)
  const rest = ledger.filter(e => !gone.has(e))
  ledger.splice(0, ledger.length, ...rest)
  await writeLedger(dir, ledger)
}

/** `<session>-<UTC time to the ms>-<random>.vault`: sorts by time, never collides, no path characters. */
export function backupFileName(session: string, at: Date): string {
  const stamp = at.toISOString().replace(/[-:.]/g, '')
  return `${encodeURIComponent(session)}-${stamp}-${randomBytes(3).toString('hex')}.vault`
}

async function readLedger(dir: string): Promise<LedgerEntry[]> {
  let text: string
  try {
    text = await readFile(join(dir, LEDGER_FILE), 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  const parsed = JSON.parse(text) as { format?: string; files?: LedgerEntry[] }
  if (parsed.format !== LEDGER_FORMAT || !Array.isArray(parsed.files)) {
    throw new VaultError('CORRUPT_DATA', `${join(dir, LEDGER_FILE)} is not a baileys-vault backup ledger; move it away or choose another backup folder.`)
  }
  return parsed.files
}

/** The ledger is replaced atomically (temp, fsync, rename, folder fsync) like every file we own. */
async function writeLedger(dir: string, files: LedgerEntry[]): Promise<void> {
  const tmp = join(dir, `${LEDGER_FILE}.tmp-${process.pid}`)
  const fd = await open(tmp, 'w', 0o600)
  try {
    await fd.writeFile(JSON.stringify({ format: LEDGER_FORMAT, version: 1, files }, null, 1))
    await fd.sync()
  } finally {
    await fd.close()
  }
  await rename(tmp, join(dir, LEDGER_FILE))
  await syncDir(dir, true)
}
