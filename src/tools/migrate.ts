import { VaultError, invalidArgument } from '../core/errors.js'
import { assertKeyId, assertKeyType } from '../store/validate.js'
import type { Store } from '../store/store.js'
import { progressTicker, type ProgressListener } from './progress.js'
import { assertSessionsExist, renamePlan, selectSessions, sessionHasData, sumCounts } from './sessions.js'
import { SessionVerifier, VERIFY_BATCH, type ExpectedKey, type Mismatch } from './verify.js'
import { checkBody } from '../codec/values.js'
import { checkForeignSession } from './source-check.js'
import { conflictError, copyDestination, holdsHiddenCopy } from './staging.js'
import { assertNoLiveOwner, withSessionLeases, type ToolLeaseOptions } from './tool-leases.js'

export interface MigrateOptions extends ToolLeaseOptions {
  /** Sessions to copy; default: every session of the source. */
  sessions?: readonly string[]
  /** Count and check, write nothing. */
  dryRun?: boolean
  /** Replace target sessions that already hold data (each is dropped first). Default: refuse. */
  overwrite?: boolean
  /**
   * Target session ids by source session id (default: the same id). E.g. a Baileys folder is
   * session 'default'; `{ default: 'alice' }` puts it under 'alice' in a multi-session store.
   */
  rename?: Readonly<Record<string, string>>
  /** Keys per target write (one atomic write each). Default 2000; 500 into a file: store. */
  batchSize?: number
  onProgress?: ProgressListener
}

export interface MigrateSessionResult {
  /** Source session id. */
  session: string
  /** Target session id (differs from `session` when renamed). */
  target: string
  /** Keys per type in the source (copied, unless dry run). */
  counts: Record<string, number>
  keys: number
  /** The source session has creds (copied last). */
  creds: boolean
  /** The target session already held data. Without `overwrite` the migration refuses to run. */
  targetHadData: boolean
  /** The target session was dropped before copying. */
  overwritten: boolean
  /** Dry run with overwrite, target holding data: what dropping the target session deletes. */
  wouldDelete?: { creds: boolean; keys: Array<[type: string, id: string]> }
  /** Dry run: files at the target the store does not own, which stay untouched (file: store). */
  targetIgnored?: string[]
  /** Keys + creds read back from the target and found equal (0 on dry run). */
  verified: number
  mismatches: Mismatch[]
  mismatchCount: number
}

export interface MigrateResult {
  from: string
  to: string
  dryRun: boolean
  sessions: MigrateSessionResult[]
  /** Total keys copied (or that would be copied). */
  keys: number
  /** No mismatches (a dry run is ok when no target session would be refused). */
  ok: boolean
  durationMs: number
}

/**
 * Keys per target write. Fewer, larger transactions cost fewer commits (fsyncs) and read-back
 * queries; a file: target opens one temp file per key of a batch at once, so it stays at 500.
 */
const defaultBatch = (to: Store) => (to.kind === 'file' ? 500 : 2000)

/** Dry run: what an overwrite would delete from the target session, and what it leaves alone. */
async function describeTarget(to: Store, p: MigrateSessionResult, overwrite: boolean): Promise<void> {
  if (overwrite && p.targetHadData) {
    const keys: Array<[string, string]> = []
    for await (const [type, id] of to.listKeys(p.target)) keys.push([type, id])
    const creds = await to.hasCreds(p.target)
    p.wouldDelete = { creds, keys }
  }
  const ignored = await to.ignoredFiles(p.target)
  if (ignored.length > 0) p.targetIgnored = ignored
}

/** What the target must hold for one source key: its bytes, text and (if need be) its decoded value. */
const sourceKey = (from: Store, session: string, type: string, id: string, bytes: Uint8Array): ExpectedKey => ({
  type,
  id,
  bytes,
  value: () => from.decodeValue(bytes, { session, type, id }),
  body: () => from.valueBody(bytes, { session, type, id })
})

/**
 * Verification of a copy whose batches were checked as they were written: a key the source has
 * not changed since the copy began is equal on the target already (counted, not read again);
 * a changed one is read again from the source and compared. Keys gone from the source are not
 * counted, so the target's copy of them shows as extra.
 */
async function verifyChanged(
  from: Store,
  session: string,
  verifier: SessionVerifier,
  changes: AsyncIterable<[type: string, id: string, changed: boolean]>,
  onUnchanged: () => void
): Promise<void> {
  let again: Array<[type: string, id: string]> = []
  const readAgain = async () => {
    const byType = new Map<string, string[]>()
    for (const [type, id] of again) {
      const ids = byType.get(type)
      if (ids) ids.push(id)
      else byType.set(type, [id])
    }
    again = []
    for (const [type, ids] of byType) {
      const found = await from.readRaw(session, type, ids)
      for (const [id, bytes] of found) await verifier.add(sourceKey(from, session, type, id, bytes))
    }
  }
  for await (const [type, id, changed] of changes) {
    if (!changed) {
      verifier.unchanged(type)
      onUnchanged()
      continue
    }
    again.push([type, id])
    if (again.length >= VERIFY_BATCH) await readAgain()
  }
  await readAgain()
}

/**
 * Copies sessions from one store to another: any pair of drivers, since values are decoded with
 * the source's codec and re-encoded with the target's. Keys stream in bounded batches (constant
 * memory), creds are written last (a half-done migration never looks like a complete session),
 * then every key is read back from the target and compared with the source: after the copy, or,
 * when the source can tell which keys changed since (file:), batch by batch as they are written,
 * with the keys the source changed during the copy read and compared again afterwards.
 * The source is only read. A source session leased by a live bot is refused (LEASE_HELD).
 */
export async function migrate(from: Store, to: Store, options: MigrateOptions = {}): Promise<MigrateResult> {
  const started = Date.now()
  if (from === to) throw invalidArgument('migrate needs two different stores; the source and the target are the same store.')
  const batchSize = options.batchSize ?? defaultBatch(to)
  if (!Number.isInteger(batchSize) || batchSize < 1) throw invalidArgument(`batchSize must be a positive integer; got ${batchSize}.`)

  const sessions = await selectSessions(from, options.sessions)
  if (options.sessions?.length) await assertSessionsExist(from, sessions)
  const targetOf = renamePlan(sessions, options.rename, 'migrated')

  // Plan: conflicts of every session before anything is written. Counting the keys is an extra
  // pass over the source, done only when someone needs the numbers up front (dry run, progress).
  const countFirst = !!options.dryRun || !!options.onProgress
  const plan: MigrateSessionResult[] = []
  let total = 0
  for (const session of sessions) {
    if (from.foreign) await checkForeignSession(from, session)
    const counts = countFirst ? await from.countKeys(session) : {}
    const keys = sumCounts(counts)
    total += keys
    const creds = await from.hasCreds(session)
    const target = targetOf(session)
    const p: MigrateSessionResult = {
      session,
      target,
      counts,
      keys,
      creds,
      // An unfinished hidden copy of an earlier run is not data: the copy below replaces it.
      targetHadData: (await sessionHasData(to, target)) && !(await holdsHiddenCopy(to, target)),
      overwritten: false,
      verified: 0,
      mismatches: [],
      mismatchCount: 0
    }
    if (options.dryRun) await describeTarget(to, p, !!options.overwrite)
    plan.push(p)
  }
  const conflicts = plan.filter(p => p.targetHadData).map(p => p.target)
  const result = (dryRun: boolean): MigrateResult => ({
    from: from.label,
    to: to.label,
    dryRun,
    sessions: plan,
    keys: plan.reduce((n, p) => n + p.keys, 0),
    ok: dryRun ? options.overwrite || conflicts.length === 0 : plan.every(p => p.mismatchCount === 0),
    durationMs: Date.now() - started
  })
  if (options.dryRun) return result(true)
  if (conflicts.length > 0 && !options.overwrite) throw await conflictError(to, conflicts, 'Pick another target')
  // A source session a live bot writes is refused on every store, snapshot or not: the copy would
  // fall behind the bot at its next message, and a bot started on it would fork the Signal state.
  await assertNoLiveOwner(from, sessions, 'migrate copies a session only while no bot uses it')

  // The lease of every target session: a live bot there makes this LEASE_HELD before any write.
  return withSessionLeases(
    to,
    plan.map(p => p.target),
    options,
    async epochOf => {
      const copied = progressTicker(options.onProgress, 'copy', total)
      /** Per session: when its copy began, and the check of its batches (see below). */
      const copies = new Map<MigrateSessionResult, { since: number; checked?: SessionVerifier }>()
      for (const p of plan) {
        // Hidden in place, or into a staging session published whole at the end (see
        // copyDestination). Values are sealed for their final place: an encrypted store binds
        // each value to its session id.
        const dest = await copyDestination(to, p.target, { replace: p.targetHadData, hide: true, epoch: epochOf(p.target) })
        // A source that can tell which keys changed since a moment (file: from timestamps) is not
        // read twice: each batch is read back from the target right after its write and compared
        // with the bytes still in memory, and verification later reads again only the keys the
        // source changed after this moment (taken before the first value is read).
        const copy = { since: Date.now(), checked: from.tracksChanges ? new SessionVerifier(to, dest.session) : undefined }
        // A target that commits on call (SQLite, memory:) has committed a batch in this process when
        // its write returns, and reading it back at once reads this process's own cache: that
        // proves the driver's code, not the disk. There one key per batch is read back (a spot
        // check of the whole path, session and encoding included); the count per type at the end
        // finds a key lost or added. Other targets (a server, a folder) are read back in full.
        const spotCheck = to.commitsOnCall
        copies.set(p, copy)
        // Values are copied as their BufferJSON text (codec.body -> codec.encodeBody: unsealed from
        // the source, re-sealed for the target if it is encrypted), not decoded into objects and
        // re-encoded: profiled, the parse/stringify pair was most of a migration's CPU. Each value is
        // still parsed once here (checkBody), so a damaged source value stops the migration exactly
        // as before.
        let batch: Array<[string, string, Uint8Array]> = []
        const counts: Record<string, number> = {}
        let written = 0
        /**
         * A target that commits on call has committed a batch when writeRaw returns; what it still
         * waits for is the flush to disk, which then overlaps the reading of the next batch (one
         * batch in flight, awaited before the next write and before the creds). The first batch is
         * awaited whole: it may be refused (a target that is not empty), and nothing may follow it.
         */
        let flushing: Promise<void> | undefined
        const flush = async () => {
          const step = dest.step(false)
          const write = to.writeRaw(dest.session, { set: batch, del: [], epoch: dest.staged ? undefined : epochOf(p.target), ...(step ? { copy: step } : {}) })
          if (to.commitsOnCall && written > 0) {
            write.catch(() => undefined) // its failure is thrown where it is awaited, below or after the loop
            await flushing
            flushing = write
          } else await write
          if (copy.checked) {
            for (const [type, id, bytes] of spotCheck ? batch.slice(-1) : batch) await copy.checked.add({ type, id, bytes, readable: true })
            await copy.checked.flush()
          }
          written += batch.length
          copied.add(batch.length, p.session)
          batch = []
        }
        try {
          for await (const [type, id, bytes] of from.listRaw(p.session, undefined, { checkJson: true })) {
            assertKeyType(type)
            assertKeyId(type, id)
            const body = from.valueBody(bytes, { session: p.session, type, id })
            checkBody(body, p.session, type, id)
            counts[type] = (counts[type] ?? 0) + 1
            batch.push([type, id, to.encodeBody(body, { session: p.target, type, id })])
            if (batch.length >= batchSize) await flush()
          }
          if (batch.length > 0) await flush()
          await flushing
        } catch (err) {
          if (!(err instanceof VaultError) || err.code === 'INVALID_ARGUMENT') throw err
          // Say what the target holds now: a staged copy is invisible; a refused first write left it as it was.
          const state = dest.staged
            ? `session "${p.target}" did not become visible on ${to.label}; its partial copy "${dest.session}" is replaced by the next run. Fix the cause (baileys-vault doctor helps), then run migrate again.`
            : dest.hidden
              ? `session "${p.target}" did not become visible on ${to.label}; its partial copy (an unfinished copy, not listed) is replaced by the next run. Fix the cause (baileys-vault doctor helps), then run migrate again.`
              : written > 0
                ? `session "${p.target}" on ${to.label} has some keys and no creds (useAuthState refuses to open it). Fix the cause (baileys-vault doctor helps), then run migrate again with --overwrite.`
                : p.overwritten
                  ? `session "${p.target}" on ${to.label} was removed (--overwrite) and nothing was copied into it yet. Fix the cause, then run migrate again.`
                  : `nothing was written to session "${p.target}" on ${to.label}. Fix the cause, then run migrate again.`
          throw new VaultError(err.code, `${err.message} The migration stopped: ${state}`, { cause: err })
        }
        p.counts = counts
        p.keys = sumCounts(counts)
        // Creds last: only now does the target session look complete to Baileys.
        if (p.creds) {
          const creds = await from.readCreds(p.session)
          if (!creds)
            throw new VaultError(
              'NOT_FOUND',
              `The creds of session "${p.session}" disappeared from ${from.label} during the migration. Stop the bot using it and run migrate again with --overwrite.`
            )
          const step = dest.step(true)
          await to.write(dest.session, { creds, epoch: dest.staged ? undefined : epochOf(p.target), ...(step ? { copy: step } : {}) }, { sealedFor: p.target })
        }
        await dest.publish()
        p.overwritten = p.targetHadData
      }
      copied.add(0, undefined, true)

      const checked = progressTicker(
        options.onProgress,
        'verify',
        plan.reduce((n, p) => n + p.keys, 0)
      )
      for (const p of plan) {
        const verifier = new SessionVerifier(to, p.target, n => checked.add(n, p.session))
        const { since, checked: copyCheck } = copies.get(p)!
        // Batches that did not read back intact: read the whole source again for the full report.
        const changes = copyCheck?.result.mismatchCount === 0 ? from.keysChangedSince(p.session, since) : undefined
        if (changes) await verifyChanged(from, p.session, verifier, changes, () => checked.add(1, p.session))
        else for await (const [type, id, bytes] of from.listRaw(p.session)) await verifier.add(sourceKey(from, p.session, type, id, bytes))
        const v = await verifier.finish(p.creds ? await from.readCreds(p.session) : undefined)
        p.verified = v.verified
        p.mismatches = v.mismatches
        p.mismatchCount = v.mismatchCount
      }
      checked.add(0, undefined, true)
      return result(false)
    }
  )
}
