import { accessSync, constants } from 'node:fs'
import { join } from 'node:path'
import { joinBuffers } from '../core/bytes.js'
import { isMissing, exists } from './file-io.js'
import { companionPresent } from './file-companions.js'
import { inTurns, type Folder, type Place } from './file-folder.js'
import type { fileLease } from './file-lease.js'
import { appendRecords } from './file-log.js'
import { encodeRecord } from './file-log-format.js'
import { ensureFolder, planBatch, recordTypes } from './file-plan.js'
import type { GroupedBatch, GroupMember } from './group-commit.js'

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
  folder: Folder
  /** Target file → bytes (null: delete). */
  ops: Map<string, Uint8Array | null>
}

/** Whether a file (or a Baileys .bak/.tmp of it) is there for a delete to remove: committed in the index, else on disk. */
function present(folder: Folder, target: string): boolean {
  const logged = folder.log.writes?.get(target)
  return logged ? logged.value !== null : exists(join(folder.dir, target)) || companionPresent(folder.dir, target)
}

/** Commits the batches (call it holding their folders' turns); one outcome per batch: undefined (committed) or its error. Throws when the group failed. */
export async function commitPlanned(batches: readonly PlannedBatch[], sync: boolean): Promise<unknown[]> {
  const outcomes: unknown[] = batches.map(() => undefined)
  const refused = new Map<Folder, unknown>()
  for (const folder of new Set(batches.map(b => b.folder))) {
    // Logs left by another process or run are replayed before this process appends to them.
    if (folder.log.needsReplay()) await folder.log.replay(sync)
    try {
      accessSync(folder.dir, constants.W_OK) // one cheap call per folder and group
    } catch (err) {
      refused.set(folder, err)
    }
  }
  // One record per batch, each folder's records appended together.
  const byFolder = new Map<Folder, { records: Buffer[]; writes: Array<[string, Uint8Array | null]> }>()
  for (const [i, b] of batches.entries()) {
    if (refused.has(b.folder)) {
      outcomes[i] = refused.get(b.folder)
      continue
    }
    for (const [target, value] of b.ops) if (value === null && !present(b.folder, target)) b.ops.delete(target)
    if (b.ops.size === 0) continue
    const ops = [...b.ops].map(([target, value]) => ({ target, value: value ?? undefined }))
    const { bytes, views } = encodeRecord(ops)
    const entry = byFolder.get(b.folder) ?? { records: [], writes: [] }
    entry.records.push(bytes)
    ops.forEach((op, k) => entry.writes.push([op.target, views[k] ?? null]))
    byFolder.set(b.folder, entry)
  }
  await appendRecords(
    [...byFolder].map(([folder, e]) => ({ log: folder.log, record: joinBuffers(e.records), writes: e.writes })),
    sync
  )
  return outcomes
}

export interface FileGroupCommitOptions {
  sync: boolean
  leases: ReturnType<typeof fileLease>
  /** The folder of a session. */
  place(session: string): Place
}

/**
 * One group of batches (GroupCommit, group-commit.ts) for a file: store: split into rounds
 * where a session repeats (one lease lock per session and round), each round committed
 * together holding the turns of its folders. Outcomes per batch.
 */
export class FileGroupCommit {
  constructor(private readonly options: FileGroupCommitOptions) {}

  readonly applyGroup = async (group: readonly GroupedBatch[]): Promise<unknown[]> => {
    const outcomes: unknown[] = group.map(() => undefined)
    let round: GroupMember[] = []
    const rounds = [round]
    const seen = new Set<string>()
    group.forEach(({ session, batch }, at) => {
      if (seen.has(session)) {
        rounds.push((round = []))
        seen.clear()
      }
      seen.add(session)
      round.push({ session, batch, at })
    })
    for (const round of rounds) {
      await this.commitRound(round, outcomes)
      // A folder removed under us (not by this store): nothing of it was committed; create it again, retry once.
      const vanished = round.filter(m => isMissing(outcomes[m.at]))
      if (vanished.length === 0) continue
      for (const m of vanished) outcomes[m.at] = undefined
      await this.commitRound(vanished, outcomes)
    }
    return outcomes
  }

  private async commitRound(round: readonly GroupMember[], outcomes: unknown[]): Promise<void> {
    const places = new Map(round.map(m => [m, this.options.place(m.session)]))
    try {
      await inTurns(
        [...places.values()].map(p => p.folder),
        () => this.holdingLeaseLocks(round, outcomes, () => this.commitChecked(places, outcomes))
      )
    } catch (err) {
      // The group's log could not be made durable: nothing of this round committed.
      for (const m of round) if (outcomes[m.at] === undefined) outcomes[m.at] = err
      for (const p of places.values()) p.folder.knownToExist = false
    }
  }

  /**
   * Fenced batches hold their session's lease lock from the epoch check through the log flush,
   * locks taken in session order (as the turns: two rounds never wait on each other). A batch
   * whose lock or epoch check fails is fenced out alone; the rest commit.
   */
  private async holdingLeaseLocks(round: readonly GroupMember[], outcomes: unknown[], commit: () => Promise<void>): Promise<void> {
    const fenced = round.flatMap(m => (m.batch.epoch === undefined ? [] : [{ ...m, epoch: m.batch.epoch }])).sort((a, b) => (a.session < b.session ? -1 : 1))
    const releases: Array<() => void> = []
    try {
      for (const { session, epoch, at } of fenced) {
        try {
          releases.push(await this.options.leases.holdFenced(session, epoch))
        } catch (err) {
          outcomes[at] = err // this batch alone is fenced out
        }
      }
      await commit()
    } finally {
      releaseAll(releases.reverse())
    }
  }

  /** The round's batches not fenced out: folders made, new types recorded, then one commit of them all. */
  private async commitChecked(places: ReadonlyMap<GroupMember, Place>, outcomes: unknown[]): Promise<void> {
    const { sync } = this.options
    const planned: Array<{ at: number; batch: PlannedBatch }> = []
    for (const [{ at, batch }, p] of places) {
      if (outcomes[at] !== undefined) continue
      try {
        await ensureFolder(p, sync)
        const { ops, newTypes } = planBatch(batch, p.folder.dir)
        if (newTypes.size > 0) await recordTypes(p.folder.dir, newTypes, sync)
        planned.push({ at, batch: { folder: p.folder, ops } })
      } catch (err) {
        outcomes[at] = err
        p.folder.knownToExist = false
      }
    }
    const results = await commitPlanned(
      planned.map(x => x.batch),
      sync
    )
    // commitPlanned answers one outcome per batch, in the order given.
    planned.forEach(({ at, batch }, k) => {
      const err = results[k]
      if (err === undefined) return
      outcomes[at] = err
      batch.folder.knownToExist = false
    })
  }
}

/** Releases every lock, then throws the first release that failed (the round then fails as a whole). */
function releaseAll(releases: ReadonlyArray<() => void>): void {
  let failure: { err: unknown } | undefined
  for (const release of releases) {
    try {
      release()
    } catch (err) {
      failure ??= { err }
    }
  }
  if (failure) throw failure.err
}
