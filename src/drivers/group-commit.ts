import type { WriteBatch } from '../core/driver.js'

/**
 * Group commit: batches from many sessions (and many auth states) that arrive while a commit
 * is being made, or in the same event-loop turn, are flushed together by the driver's
 * `applyGroup`, so they share one commit (one fsync, one round trip).
 *
 * Guarantees, whatever the driver:
 * - Batches are handed to `applyGroup` in arrival order; one group at a time. So writes of one
 *   session land in the order they were made (the auth state's write queue makes them one at a
 *   time anyway).
 * - `write` resolves only after the group holding its batch has committed, and rejects with
 *   that batch's own error, or with the group's error when the whole group failed. None is
 *   dropped, none is reported saved that was not.
 */
export interface GroupedBatch {
  session: string
  batch: WriteBatch
}

/** A batch of a group with its position there, where its outcome goes (a group split into rounds). */
export interface GroupMember extends GroupedBatch {
  at: number
}

/**
 * Applies a group in one commit. Resolves to one outcome per batch, aligned with `group`:
 * undefined (committed) or the error that failed that batch alone (its effects rolled back).
 * Throws when the group as a whole did not commit: every batch of it fails with that error.
 */
/** A batch that writes nothing and checks no lease: it commits without touching the backend. */
export const isEmptyBatch = (b: WriteBatch): boolean => !b.creds && b.set.length === 0 && b.del.length === 0 && b.epoch === undefined

export type ApplyGroup = (group: readonly GroupedBatch[]) => Promise<ReadonlyArray<unknown>>

export interface GroupCommitOptions {
  applyGroup: ApplyGroup
  /** Most batches in one group (bounds one transaction's size and the wait of its first batch). Default 256. */
  maxGroup?: number
  /**
   * Groups sent before the previous ones settled. Default 1: the next group forms while one
   * commits. More only for a backend that applies groups in the order they were sent (one Redis
   * connection): then a group goes out every event-loop turn without waiting for the last reply.
   */
  maxInFlight?: number
  /**
   * How long a batch marked `joinNext` waits at most for another write to start a group before
   * it starts one itself (ms); it stops waiting earlier once its `joinUntil` settles. Default 50.
   */
  joinWithinMs?: number
}

interface Pending extends GroupedBatch {
  resolve(): void
  reject(err: unknown): void
  /** Handed to applyGroup (a joinUntil settling later has nothing to start). */
  started?: boolean
}

export class GroupCommit {
  private pending: Pending[] = []
  /** A flush is scheduled for the next turn of the event loop. */
  private scheduled = false
  /** Groups being committed now. */
  private inFlight = 0
  /** Settles when the queue is next empty and idle (drain). */
  private busy?: { done: Promise<void>; settle(): void }
  private readonly maxGroup: number
  private readonly maxInFlight: number
  /** Starts a group for `joinNext` batches that no other write came to carry. */
  private joinTimer?: NodeJS.Timeout

  constructor(private readonly options: GroupCommitOptions) {
    this.maxGroup = options.maxGroup ?? 256
    this.maxInFlight = options.maxInFlight ?? 1
  }

  /**
   * Queues one batch for the next group; settles once that group's outcome is known. A
   * `joinNext` batch does not start a group: it goes with the next one another write starts,
   * or starts one once its `joinUntil` settled (or after `joinWithinMs`), so a record and the keys that follow it share a commit.
   */
  write(session: string, batch: WriteBatch): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const pending: Pending = { session, batch, resolve, reject }
      this.pending.push(pending)
      if (!batch.joinNext || this.scheduled) return this.schedule()
      this.busy ??= idle()
      this.joinTimer ??= setTimeout(() => {
        this.joinTimer = undefined
        this.schedule()
      }, this.options.joinWithinMs ?? 50)
      const stopWaiting = () => void (pending.started || this.schedule())
      batch.joinUntil?.then(stopWaiting, stopWaiting)
    })
  }

  /** Resolves when every batch queued so far has settled (drop, rename and close wait on this). */
  async drain(): Promise<void> {
    while (this.busy) await this.busy.done
  }

  private schedule(): void {
    // Batches that arrive while a group commits (maxInFlight groups) wait and form the next group.
    if (this.scheduled || this.inFlight >= this.maxInFlight) return
    this.scheduled = true
    clearTimeout(this.joinTimer)
    this.joinTimer = undefined
    this.busy ??= idle()
    // setImmediate, not a microtask: writes made in this event-loop turn (other sessions' crypto
    // finishing, callers woken by the previous group) join the group.
    setImmediate(() => void this.flushNext())
  }

  private async flushNext(): Promise<void> {
    this.scheduled = false
    this.inFlight++
    const group = this.pending.splice(0, this.maxGroup)
    for (const p of group) p.started = true
    await this.flush(group)
    this.inFlight--
    if (this.pending.length > 0) return this.schedule()
    if (this.inFlight > 0 || this.scheduled) return
    const busy = this.busy
    this.busy = undefined
    busy?.settle()
  }

  private async flush(group: Pending[]): Promise<void> {
    let outcomes: ReadonlyArray<unknown>
    try {
      outcomes = await this.options.applyGroup(group)
      // An outcome per batch or none counts as saved: a driver bug must not report unsaved writes saved.
      if (outcomes.length !== group.length) throw new Error(`group commit returned ${outcomes.length} outcomes for ${group.length} batches`)
    } catch (err) {
      for (const p of group) p.reject(err)
      return
    }
    group.forEach((p, i) => (outcomes[i] === undefined ? p.resolve() : p.reject(outcomes[i])))
  }
}

/** A promise that settles when the queue is next idle (GroupCommit.busy). */
function idle(): { done: Promise<void>; settle(): void } {
  let settle!: () => void
  const done = new Promise<void>(resolve => (settle = resolve))
  return { done, settle }
}
