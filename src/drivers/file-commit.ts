import { join } from 'node:path'
import { applyOps, exists, removeTemps, tempName, writeTemps, type JournalOp } from './file-io.js'
import { appendRecords, encodeRecord, forgetLog, needsReplay, replayLogs } from './file-log.js'

/**
 * Commits many session folders' batches together (group commit for file:).
 *
 * For every batch: its new values go to temp files (written, not yet flushed). Then one log
 * record per batch is appended to its folder's log (file-log.ts), and all the folders' logs are
 * flushed at once, in parallel on the thread pool: the commit point of the whole group, one
 * fdatasync per folder instead of two to four per batch. Then every batch's renames and
 * deletes are applied, each in one synchronous step (no reader in this process sees half a
 * batch). The files themselves are flushed later, once for many writes (a checkpoint).
 *
 * Failures: a batch whose temp files cannot be written fails alone (nothing of it committed);
 * a failed append or flush fails every batch of the group (none is reported saved; the record
 * is cut off, so it is never replayed). A batch that cannot be applied after the commit point
 * fails, and its folder is replayed from the log on its next access.
 */
export interface PlannedBatch {
  dir: string
  /** Target file → bytes (null: delete). */
  ops: Map<string, Uint8Array | null>
}

export interface CommitHooks {
  sync: boolean
  /** A folder whose log must be replayed before its next access (a failure after the commit point). */
  needsRecovery(dir: string): void
}

/** Commits the batches; one outcome per batch: undefined (committed) or its error. Throws when the group failed. */
export async function commitPlanned(batches: readonly PlannedBatch[], hooks: CommitHooks): Promise<unknown[]> {
  const { sync } = hooks
  const outcomes: unknown[] = batches.map(() => undefined)
  // Logs left by another process or run are replayed before this process appends to them.
  for (const dir of new Set(batches.map(b => b.dir))) if (needsReplay(dir)) await replayLogs(dir, sync)
  const staged: Array<{ i: number; plan: JournalOp[]; temps: string[] }> = []
  try {
    for (const [i, b] of batches.entries()) {
      for (const [target, value] of b.ops) if (value === null && !exists(join(b.dir, target))) b.ops.delete(target)
      if (b.ops.size === 0) continue
      const plan: JournalOp[] = [...b.ops].map(([target, value]) => (value === null ? { target } : { target, tmp: tempName() }))
      const files = plan.flatMap(op => (op.tmp ? [[op.tmp, b.ops.get(op.target)!] as const] : []))
      try {
        await writeTemps(b.dir, files, false) // flushed by the log's replay if the OS crashes before a checkpoint
      } catch (err) {
        outcomes[i] = err
        continue
      }
      staged.push({ i, plan, temps: files.map(([name]) => name) })
    }
    // One record per batch, each folder's records appended together.
    const byDir = new Map<string, { records: Buffer[]; targets: string[] }>()
    for (const { i, plan } of staged) {
      const b = batches[i]
      const entry = byDir.get(b.dir) ?? { records: [], targets: [] }
      entry.records.push(encodeRecord(plan.map(op => ({ target: op.target, value: b.ops.get(op.target) ?? undefined }))))
      entry.targets.push(...plan.map(op => op.target))
      byDir.set(b.dir, entry)
    }
    await appendRecords(
      [...byDir].map(([dir, e]) => ({ dir, record: Buffer.concat(e.records), targets: e.targets })),
      sync
    )
  } catch (err) {
    for (const { i, temps } of staged) removeTemps(batches[i].dir, temps)
    throw err
  }
  // Committed: every staged batch happens, now or on replay.
  for (const { i, plan, temps } of staged) {
    const { dir } = batches[i]
    try {
      applyOps(dir, plan, false)
    } catch (err) {
      removeTemps(dir, temps) // those not renamed yet: the replay writes its own
      outcomes[i] = err
      forgetLog(dir) // its log stays on disk and is replayed whole on the next access
      hooks.needsRecovery(dir)
    }
  }
  return outcomes
}
