import { VaultError } from '../core/errors.js'
import type { StoredValue } from '../codec/stored-value.js'
import { decodeValue, encodeValue } from '../codec/values.js'
import type { Store } from '../store/store.js'
import type { EncryptionOptions } from '../codec/seal.js'
import { backupProtection, readBackup, type BackupEntry, type BackupHeader, type BackupKeys, type BackupTrailer } from './backup-format.js'
import { progressTicker, type ProgressListener } from './progress.js'
import { renamePlan, sessionHasData } from './sessions.js'
import { SessionVerifier, type Mismatch } from './verify.js'
import { conflictError, copyDestination, type CopyDestination } from './staging.js'
import { withSessionLeases, type ToolLeaseOptions } from './tool-leases.js'

export interface RestoreOptions extends ToolLeaseOptions {
  /** Sessions to restore; default: every session in the backup. */
  sessions?: readonly string[]
  /** Replace target sessions that already hold data (each is dropped first). Default: refuse. */
  overwrite?: boolean
  /** Target session ids by backup session id (default: the same id). */
  rename?: Readonly<Record<string, string>>
  /** Only check the file (and the target for conflicts); write nothing. */
  dryRun?: boolean
  /** Keys per target write. Default 500. */
  batchSize?: number
  /**
   * Keys that may open a sealed backup, besides the target store's own (a store opened with
   * encryption opens backups sealed with any of its keys). Needed to restore a sealed backup
   * into a plaintext store.
   */
  encryption?: EncryptionOptions
  onProgress?: ProgressListener
}

export interface RestoreSessionResult {
  /** Session id in the backup. */
  session: string
  /** Session id written on the target (differs when renamed). */
  target: string
  creds: boolean
  keys: number
  counts: Record<string, number>
  targetHadData: boolean
  overwritten: boolean
  verified: number
  mismatches: Mismatch[]
  mismatchCount: number
}

export interface RestoreResult {
  file: string
  to: string
  /** When the backup was taken, and whether from a consistent snapshot. */
  createdAt: string
  snapshot: boolean
  /** The file was sealed (encrypted), and with which key id; it opened and authenticated. */
  sealed: boolean
  keyId?: string
  dryRun: boolean
  sessions: RestoreSessionResult[]
  keys: number
  ok: boolean
  durationMs: number
}

type Entry = BackupEntry

export interface VerifyBackupOptions extends BackupKeys {
  /** Called once per content line read. */
  onLine?: () => void
}

export interface VerifiedBackup {
  header: BackupHeader
  trailer: BackupTrailer
  counts: Map<string, Record<string, number>>
  /** The file was sealed, with this key id, and every chunk authenticated. */
  sealed: boolean
  keyId?: string
}

/**
 * Reads a whole backup file through every check (decryption and authentication of a sealed
 * file, gzip, JSON, header, SHA-256, trailer counts) and returns what it holds, key counts per
 * session and type. Throws CORRUPT_DATA on any damage (a tampered or truncated sealed file
 * too), DECRYPT_FAILED when a sealed file's key is not given or does not open it,
 * UNSUPPORTED_FORMAT for a newer format version, NOT_FOUND for a missing file.
 */
export async function verifyBackup(file: string, options: VerifyBackupOptions = {}): Promise<VerifiedBackup> {
  const { onLine, ...keys } = options
  const protection = await backupProtection(file)
  const reader = readBackup(file, keys)
  const counts = new Map<string, Record<string, number>>()
  let header: BackupHeader | undefined
  for (;;) {
    const next = await reader.next()
    if (next.done) return { header: header!, trailer: next.value, counts, sealed: protection.sealed, keyId: protection.sealed ? protection.keyId : undefined }
    const item = next.value
    if ('format' in item) {
      header = item
      continue
    }
    if (item.kind === 'key') {
      let c = counts.get(item.session)
      if (!c) counts.set(item.session, (c = {}))
      c[item.type] = (c[item.type] ?? 0) + 1
    }
    onLine?.()
  }
}

async function* entries(file: string, keys: BackupKeys): AsyncIterable<Entry> {
  for await (const item of readBackup(file, keys)) if (!('format' in item)) yield item
}

/**
 * Restores a backup file into a store. The whole file is verified first (for a sealed file: the
 * key and every chunk's authentication; then gzip integrity, JSON, header, SHA-256, trailer
 * counts): a damaged, truncated or tampered backup, or a sealed one whose key is not given, is
 * refused before anything is written. Values are re-encoded by the target store's codec, so a
 * sealed backup restores into a plaintext or encrypted store of any driver. Target sessions that already hold data are refused unless `overwrite`. Keys are
 * written in batches, creds last; then every key is read back and compared with the file.
 */
export async function restore(file: string, to: Store, options: RestoreOptions = {}): Promise<RestoreResult> {
  const started = Date.now()
  const batchSize = options.batchSize ?? 500
  const checked = progressTicker(options.onProgress, 'check')
  const keys: BackupKeys = { encryption: options.encryption, codec: to.sealer() }
  const { header, trailer, counts, sealed, keyId } = await verifyBackup(file, { ...keys, onLine: () => checked.add(1) })
  checked.add(0, undefined, true)

  const wanted = options.sessions?.length ? [...new Set(options.sessions)] : header.sessions
  const missing = wanted.filter(s => !header.sessions.includes(s))
  if (missing.length > 0) {
    throw new VaultError(
      'NOT_FOUND',
      `Backup ${file} has no session ${missing.map(s => `"${s}"`).join(', ')}; it holds ${header.sessions.map(s => `"${s}"`).join(', ') || 'no sessions'}.`
    )
  }
  const targetOf = renamePlan(wanted, options.rename, 'restored')
  const plan = new Map<string, RestoreSessionResult>()
  for (const session of wanted) {
    const c = counts.get(session) ?? {}
    plan.set(session, {
      session,
      target: targetOf(session),
      creds: trailer.sessions[session]?.creds === 1,
      keys: trailer.sessions[session]?.keys ?? 0,
      counts: c,
      targetHadData: await sessionHasData(to, targetOf(session)),
      overwritten: false,
      verified: 0,
      mismatches: [],
      mismatchCount: 0
    })
  }
  const results = [...plan.values()]
  const conflicts = results.filter(r => r.targetHadData).map(r => r.target)
  const total = results.reduce((n, r) => n + r.keys, 0)
  const result = (dryRun: boolean): RestoreResult => ({
    file,
    to: to.label,
    createdAt: header.createdAt,
    snapshot: header.snapshot,
    sealed,
    keyId,
    dryRun,
    sessions: results,
    keys: total,
    ok: dryRun ? options.overwrite || conflicts.length === 0 : results.every(r => r.mismatchCount === 0),
    durationMs: Date.now() - started
  })
  if (options.dryRun) return result(true)
  if (conflicts.length > 0 && !options.overwrite) throw await conflictError(to, conflicts, 'Restore into another store')

  // The lease of every target session: a live bot there makes this LEASE_HELD before any write.
  await withSessionLeases(
    to,
    results.map(r => r.target),
    options,
    async epochOf => {
      // Write: keys in batches, each session's creds after its keys, into a staging session that
      // is published whole once the session is written (see copyDestination).
      const written = progressTicker(options.onProgress, 'write', total)
      const destinations = new Map<RestoreSessionResult, CopyDestination>()
      /** Writes in place (no staging) are stamped with the target's lease epoch. */
      const epochFor = (r: RestoreSessionResult) => (destinations.get(r)!.staged ? undefined : epochOf(r.target))
      let current: RestoreSessionResult | undefined
      let creds: unknown
      let batch: Array<[string, string, unknown]> = []
      const flush = async () => {
        if (!current || batch.length === 0) return
        await to.write(destinations.get(current)!.session, { set: batch, epoch: epochFor(current) }, { sealedFor: current.target })
        written.add(batch.length, current.session)
        batch = []
      }
      const publish = async (r: RestoreSessionResult) => {
        await destinations.get(r)!.publish()
        r.overwritten = r.targetHadData
      }
      const endSession = async () => {
        await flush()
        if (current && creds !== undefined)
          await to.write(destinations.get(current)!.session, { creds: creds as StoredValue, epoch: epochFor(current) }, { sealedFor: current.target })
        if (current) await publish(current)
        creds = undefined
      }
      for await (const entry of entries(file, keys)) {
        const r = plan.get(entry.session)
        if (!r) continue
        if (r !== current) {
          await endSession()
          current = r
          destinations.set(r, await copyDestination(to, r.target, { replace: r.targetHadData }))
        }
        if (entry.kind === 'creds') creds = entry.value
        else {
          batch.push([entry.type, entry.id, entry.value])
          if (batch.length >= batchSize) await flush()
        }
      }
      await endSession()
      // A session the file lists without any line (nothing to write) still replaces its target.
      for (const r of results)
        if (!destinations.has(r)) {
          destinations.set(r, await copyDestination(to, r.target, { replace: r.targetHadData }))
          await publish(r)
        }
      written.add(0, undefined, true)
    }
  )

  // Verify: the target must return what the file holds, with Baileys' value semantics.
  const verifying = progressTicker(options.onProgress, 'verify', total)
  let verifier: SessionVerifier | undefined
  let verifyingSession: RestoreSessionResult | undefined
  let verifyCreds: unknown
  const finish = async () => {
    if (!verifier || !verifyingSession) return
    const v = await verifier.finish(verifyCreds)
    Object.assign(verifyingSession, { verified: v.verified, mismatches: v.mismatches, mismatchCount: v.mismatchCount })
    verifier = undefined
    verifyCreds = undefined
  }
  for await (const entry of entries(file, keys)) {
    const r = plan.get(entry.session)
    if (!r) continue
    if (r !== verifyingSession) {
      await finish()
      verifyingSession = r
      verifier = new SessionVerifier(to, r.target, n => verifying.add(n, r.session))
    }
    if (entry.kind === 'creds') verifyCreds = asBaileysReadsIt(entry.value, r.target)
    else {
      // Compared by digest with the file's value as Baileys reads it: this also proves the
      // target's codec round-trips the value.
      const { type, id, value } = entry
      await verifier!.add({ type, id, value: () => asBaileysReadsIt(value, r.target, type, id) })
    }
  }
  await finish()
  verifying.add(0, undefined, true)
  return result(false)
}

/** The value as Baileys reads it back from any store (e.g. app-state-sync-key via fromObject). */
const asBaileysReadsIt = (value: unknown, session: string, type?: string, id?: string) => decodeValue(encodeValue(value), session, type, id)
