import { accessSync, constants } from 'node:fs'
import { join } from 'node:path'
import { exists } from './file-io.js'
import { companionPresent } from './file-companions.js'
import { appendRecords, loggedWrites, needsReplay, replayLogs } from './file-log.js'
import { encodeRecord } from './file-log-format.js'

/**
 * Commits many session folders' batches together (group commit for file:).
 *
 * One log record per batch is appended to its folder's log (file-log.ts), and all the
 * folders' logs are flushed at once, in parallel on the thread pool: the commit point of the
 * whole group, one fdatasync per folder. From then on the folder's index serves the values;
 * the files are written in place later, once for many writes (a checkpoint).
 *
 * Failures: a batch whose folder cannot be written (read-only, immutable) fails alone, nothing
 * of it committed: its checkpoint could never put the files in place. A failed append or flush
 * fails every batch of the group (none is reported saved; the record is cut off, so it is
 * never replayed).
 */
export interface PlannedBatch {
  dir: string
  /** Target file → bytes (null: delete). */
  ops: Map<string, Uint8Array | null>
}

export interface CommitHooks {
  sync: boolean
}

/** Whether a file (or a Baileys .bak/.tmp of it) is there for a delete to remove: committed in the index, else on disk. */
function present(dir: string, target: string): boolean {
  const logged = loggedWrites(dir)?.get(target)
  return logged ? logged.value !== null : exists(join(dir, target)) || companionPresent(dir, target)
}

/** Commits the batches; one outcome per batch: undefined (committed) or its error. Throws when the group failed. */
export async function commitPlanned(batches: readonly PlannedBatch[], hooks: CommitHooks): Promise<unknown[]> {
  const { sync } = hooks
  const outcomes: unknown[] = batches.map(() => undefined)
  const refused = new Map<string, unknown>()
  for (const dir of new Set(batches.map(b => b.dir))) {
    // Logs left by another process or run are replayed before this process appends to them.
    if (needsReplay(dir)) await replayLogs(dir, sync)
    try {
      accessSync(dir, constants.W_OK) // one cheap call per folder and group
    } catch (err) {
      refused.set(dir, err)
    }
  }
  // One record per batch, each folder's records appended together.
  const byDir = new Map<string, { records: Buffer[]; writes: Array<[string, Uint8Array | null]> }>()
  for (const [i, b] of batches.entries()) {
    if (refused.has(b.dir)) {
      outcomes[i] = refused.get(b.dir)
      continue
    }
    for (const [target, value] of b.ops) if (value === null && !present(b.dir, target)) b.ops.delete(target)
    if (b.ops.size === 0) continue
    const ops = [...b.ops].map(([target, value]) => ({ target, value: value ?? undefined }))
    const { bytes, views } = encodeRecord(ops)
    const entry = byDir.get(b.dir) ?? { records: [], writes: [] }
    entry.records.push(bytes)
    ops.forEach((op, k) => entry.writes.push([op.target, views[k] ?? null]))
    byDir.set(b.dir, entry)
  }
  await appendRecords(
    [...byDir].map(([dir, e]) => ({ dir, record: e.records.length === 1 ? e.records[0] : Buffer.concat(e.records), writes: e.writes })),
    sync
  )
  return outcomes
}
