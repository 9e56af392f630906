import { must } from '../core/defined.js'
import { createHash } from 'node:crypto'
import { isStagingSession } from '../store/validate.js'
import { createWriteStream, existsSync } from 'node:fs'
import { open, rename, rm, stat } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import type { SnapshotReader } from '../core/driver.js'
import { VaultError, invalidArgument } from '../core/errors.js'
import type { Store } from '../store/store.js'
import { isMessageType } from '../store/internal-types.js'
import { sealedCodec } from '../store/value-codec.js'
import type { EncryptionOptions } from '../codec/seal.js'
import { newSealHeader, sealStream } from './backup-seal.js'
import { BACKUP_FORMAT, BACKUP_VERSION, credsLine, headerLine, keyLine, trailerLine, type BackupHeader, type SessionCounts } from './backup-format.js'
import { progressTicker, type ProgressListener } from './progress.js'
import { assertSessionsExist } from './sessions.js'
import { assertNoLiveOwner } from './tool-leases.js'

export interface BackupOptions {
  /** Sessions to back up; default: every session of the store. */
  sessions?: readonly string[]
  /** Replace an existing file at the destination. Default: refuse. */
  overwrite?: boolean
  /**
   * Write an unencrypted file even though the store is encrypted. By default the backup of an
   * encrypted store (or with `encryption`) is sealed under the current key; a plaintext file
   * holds the account's private keys in the clear.
   */
  plaintext?: boolean
  /** Seal the file with these keys (their `current` key) instead of the store's. */
  encryption?: EncryptionOptions
  /** Also write the retry store (the text of sent messages, a secret like the keys). Default: left out. */
  includeMessages?: boolean
  onProgress?: ProgressListener
}

export interface BackupSessionResult extends SessionCounts {
  session: string
  counts: Record<string, number>
}

export interface BackupResult {
  file: string
  store: string
  createdAt: string
  /** True when taken inside one consistent snapshot of the store. */
  snapshot: boolean
  /** Set when the backup was taken live (the driver has no snapshots). */
  note?: string
  sessions: BackupSessionResult[]
  keys: number
  /** Size of the file (compressed, and sealed when `sealed`). */
  bytes: number
  /** True when the file is encrypted (AES-256-GCM, docs/backup-format.md "Sealed files"). */
  sealed: boolean
  /** Id of the key the file is sealed with (never the key itself). */
  keyId?: string
  sha256: string
  durationMs: number
}

/** The read side a backup needs, decoded: from a driver snapshot or from the live store. */
interface Source {
  sessions(): AsyncIterable<string>
  creds(session: string): Promise<unknown>
  keys(session: string, values: boolean): AsyncIterable<[type: string, id: string, value?: unknown]>
}

function snapshotSource(store: Store, reader: SnapshotReader): Source {
  return {
    // Not the staging sessions of interrupted migrate/restore runs (Store.sessions() skips them too).
    async *sessions() {
      for await (const s of reader.sessions()) if (!isStagingSession(s)) yield s
    },
    async creds(session) {
      const bytes = await reader.getCreds(session)
      return bytes && store.decodeCreds(bytes, session)
    },
    async *keys(session, values) {
      for await (const [type, id, bytes] of reader.list(session, undefined, { values })) {
        yield values ? [type, id, store.decodeValue(must(bytes, 'a snapshot lists the values it is asked for'), { session, type, id })] : [type, id]
      }
    }
  }
}

function liveSource(store: Store): Source {
  return {
    sessions: () => store.sessions(),
    creds: session => store.readCreds(session),
    keys: (session, values) => store.listKeys(session, undefined, { values })
  }
}

/** The retry store's records are conversation content: a backup holds them only when asked (includeMessages). */
const withoutMessages = (source: Source): Source => ({
  ...source,
  async *keys(session, values) {
    for await (const entry of source.keys(session, values)) if (!isMessageType(entry[0])) yield entry
  }
})

const CHUNK = 256 * 1024

/**
 * Writes one portable backup file (docs/backup-format.md) of some or all sessions. Inside the
 * driver's consistent snapshot when it has one (SQLite, PostgreSQL); otherwise live, which the
 * result notes. The file is written beside the destination and renamed into place when complete
 * and fsync'd, so a crash never leaves a half-written file under the backup's name.
 * When the store is encrypted (or `encryption` is given) the file is sealed with AES-256-GCM under
 * the current key, unless `plaintext`; a plaintext file holds the account's secrets in the clear
 * (like a Baileys folder). Either way it is created with mode 0600.
 */
export async function backup(store: Store, file: string, options: BackupOptions = {}): Promise<BackupResult> {
  const started = Date.now()
  if (!options.overwrite && existsSync(file))
    throw invalidArgument(`${file} already exists. Choose another file name, or pass overwrite (--overwrite) to replace it.`)
  if (options.plaintext && options.encryption) throw invalidArgument('backup: plaintext and encryption exclude each other; pass one of them.')
  // Bad encryption options fail before anything is read or written.
  const sealer = options.plaintext ? undefined : options.encryption ? sealedCodec(options.encryption) : store.sealer()
  if (options.sessions?.length) await assertSessionsExist(store, [...new Set(options.sessions)])

  const tmp = join(dirname(file), `.${basename(file)}.partial-${process.pid}-${Date.now()}`)
  const createdAt = new Date().toISOString()
  const snapshot = store.canSnapshot
  const results: BackupSessionResult[] = []
  let sha256 = ''

  const run = async (all: Source) => {
    const source = options.includeMessages ? all : withoutMessages(all)
    const sessions: string[] = []
    if (options.sessions?.length) sessions.push(...new Set(options.sessions))
    else for await (const s of source.sessions()) sessions.push(s)
    sessions.sort()
    // Read live, a session another process writes is neither its state before nor after: refused.
    if (!snapshot)
      await assertNoLiveOwner(
        store,
        sessions,
        `the ${store.kind} store has no consistent snapshots, so a backup would copy keys while they change (SQLite and PostgreSQL back up a running bot)`
      )
    let total: number | undefined
    if (options.onProgress) {
      total = 0
      for (const s of sessions) for await (const _ of source.keys(s, false)) total++
    }
    const ticker = progressTicker(options.onProgress, 'backup', total)
    const header: BackupHeader = { format: BACKUP_FORMAT, version: BACKUP_VERSION, createdAt, sessions, source: store.kind, snapshot }

    async function* content(): AsyncIterable<string> {
      const hash = createHash('sha256')
      let lines = 0
      let buffer = ''
      const emit = (line: string) => {
        hash.update(line)
        buffer += line
      }
      emit(headerLine(header))
      const counts: Record<string, SessionCounts> = {}
      for (const session of sessions) {
        const r: BackupSessionResult = { session, creds: 0, keys: 0, counts: {} }
        const creds = await source.creds(session)
        if (creds !== undefined) {
          emit(credsLine(session, creds))
          lines++
          r.creds = 1
        }
        for await (const [type, id, value] of source.keys(session, true)) {
          emit(keyLine(session, type, id, value))
          lines++
          r.keys++
          r.counts[type] = (r.counts[type] ?? 0) + 1
          if (buffer.length >= CHUNK) {
            yield buffer
            buffer = ''
          }
          ticker.add(1, session)
        }
        counts[session] = { creds: r.creds, keys: r.keys }
        results.push(r)
      }
      sha256 = hash.digest('hex')
      buffer += trailerLine({ kind: 'end', lines, sessions: counts, sha256 })
      yield buffer
      ticker.add(0, undefined, true)
    }

    try {
      const output = createWriteStream(tmp, { mode: 0o600, flags: 'wx' })
      const gzip = createGzip({ level: 6 })
      if (sealer) {
        const { header, dataKey } = newSealHeader(sealer)
        await pipeline(Readable.from(content(), { objectMode: false }), gzip, sealStream(header, dataKey), output)
      } else await pipeline(Readable.from(content(), { objectMode: false }), gzip, output)
      const fd = await open(tmp, 'r+')
      try {
        await fd.sync()
      } finally {
        await fd.close()
      }
    } catch (err) {
      await rm(tmp, { force: true })
      if (err instanceof VaultError) throw err
      const code = (err as NodeJS.ErrnoException).code
      if (code && /^E[A-Z]+$/.test(code))
        throw new VaultError('INVALID_ARGUMENT', `Cannot write backup file ${file} (${code}). Check the folder exists and is writable.`, { cause: err })
      throw err
    }
  }

  try {
    if (snapshot) await store.snapshot(reader => run(snapshotSource(store, reader)))
    else await run(liveSource(store))
  } catch (err) {
    if (err instanceof VaultError) throw err
    throw new VaultError('BACKEND_UNAVAILABLE', `Backup of ${store.label} failed while reading: ${(err as Error).message}. No backup file was written.`, {
      cause: err
    })
  }
  await rename(tmp, file)
  const keys = results.reduce((n, r) => n + r.keys, 0)
  return {
    file,
    store: store.label,
    createdAt,
    snapshot,
    note: snapshot ? undefined : `The ${store.kind} driver has no consistent snapshots: the backup was read live. Stop the bot first for a consistent copy.`,
    sessions: results,
    keys,
    bytes: (await stat(file)).size,
    sealed: !!sealer,
    keyId: sealer?.currentKeyId,
    sha256,
    durationMs: Date.now() - started
  }
}
