import { closeSync, fdatasync, ftruncateSync, openSync, readdirSync, statSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { FILE_MODE, applyOps, isMissing, readMaybe, removeTemps, syncDir, tempName, unlinkAsync, writeTemps, type JournalOp } from './file-io.js'
import { decodeRecords } from './file-log-format.js'
import { writeInPlace, type LoggedWrite } from './file-in-place.js'

export type { LoggedWrite } from './file-in-place.js'

/**
 * The commit log of one session folder: what makes a write durable with one fdatasync.
 *
 * A committed batch is one record appended to `.vault-log-<n>` in its folder: every value the
 * batch writes and every file it deletes, checksummed (file-log-format.ts). The write is
 * durable once the record is fdatasync'd (and, for a log file just created, the folder
 * fsync'd): that is the commit point. The files are not written then: the newest committed
 * value of each file lives in this process's index of the folder (`FolderLog.writes`), where the
 * driver reads it, and a checkpoint (a second after the folder's first record since the last
 * one, when its log reaches 4 MiB, and before drop, rename and close) writes each file once,
 * however often it was rewritten meanwhile, off the event loop (file-in-place.ts),
 * fsyncs the folder and removes the logs. So a session rewritten per message costs one log
 * append per write and one file per checkpoint.
 *
 * What the folder shows while the store is open: the files as of the last checkpoint (or a mix
 * of that and the next one while a checkpoint runs), plus the logs; a read-only open of this
 * store reads the logs too (`LogsOnDisk`), Baileys itself does not. After a crash, the
 * same until a read-write open replays the logs (`doctor` reports the folder meanwhile).
 *
 * Recovery replays every log of a folder in order (a torn or damaged record ends its log:
 * that batch never committed, nothing was acknowledged), durably, then removes the logs.
 * A record is replayed whole or not at all, so each batch stays all or nothing.
 */
const LOG_PREFIX = '.vault-log-'
const LOG_PATTERN = /^\.vault-log-(\d+)$/
/** A log this big is checkpointed after the group that grew it (bounds replay time and memory). */
const CHECKPOINT_BYTES = 4 * 1024 * 1024
/** A folder is checkpointed this long after its first record since the last checkpoint. */
const CHECKPOINT_AGE_MS = 1000
const fdatasyncAsync = promisify(fdatasync)

/** The log files of a folder, oldest first. */
function logFiles(dir: string): string[] {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch (err) {
    if (isMissing(err)) return []
    throw err
  }
  return names.filter(n => LOG_PATTERN.test(n)).sort((a, b) => logNumber(a) - logNumber(b))
}

/** The number of a log file's name (one logFiles returned: it matches LOG_PATTERN). */
const logNumber = (name: string): number => Number(LOG_PATTERN.exec(name)?.[1])

/** This process's open log of a folder (from its first append or replay until it is forgotten). */
interface OpenLog {
  /** The log being appended to (undefined: the next append starts a new one). */
  current?: { fd: number; name: string; size: number }
  /** Every log file of the folder that holds records (all removed at the checkpoint). */
  files: Set<string>
  /** File name → its newest committed write not yet in place (each write a new object). */
  pending: Map<string, LoggedWrite>
  /** The folder's last checkpoint flush: flushes run one after the other, so an older value never lands last. */
  flushTail?: Promise<void>
  /** Log files this process created and has not removed yet (any other is another process's). */
  ours: Set<string>
  next: number
  bytes: number
  timer?: NodeJS.Timeout
}

/**
 * Checkpoint flushes a folder may have in flight before its next append waits. Every value
 * committed and not yet written in place stays in memory (the index serves it), so a writer
 * faster than the checkpoints (a migration into a folder) must wait for them: its memory stays
 * bounded by a few checkpoints' worth (CHECKPOINT_BYTES each) instead of growing with the copy.
 */
const MAX_FLUSHES_IN_FLIGHT = 2

/** Runs a task in the folder's write turn (file-folder.ts). */
export type InTurn = <T>(task: () => Promise<T>) => Promise<T>

/**
 * The commit log of one folder in this process: its open log, its index of committed writes
 * not yet in place, its checkpoint timer and its checkpoint flushes. One per folder (owned by
 * its Folder, file-folder.ts); timed checkpoints start in the folder's turn (`inTurn`), so no
 * append is half done meanwhile.
 */
export class FolderLog {
  private open?: OpenLog
  /** Checkpoints still flushing (close and drop wait for them); they outlive a forgotten log. */
  private readonly flushing = new Set<Promise<void>>()

  constructor(
    private readonly dir: string,
    private readonly inTurn: InTurn
  ) {}

  /** What this process committed to the folder's log and has not written in place yet (read-write stores). */
  get writes(): ReadonlyMap<string, LoggedWrite> | undefined {
    return this.open?.pending
  }

  /** Whether records are not yet checkpointed, or a checkpoint still flushes (close checkpoints it). */
  get unfinished(): boolean {
    return (this.open?.files.size ?? 0) > 0 || this.flushing.size > 0
  }

  /**
   * Whether the folder may hold a log this process did not write (left by another process that
   * had the session's lease, or by an earlier run): it must be replayed before this process appends.
   * Checked when the folder's next record starts a new log (a readdir once per checkpoint).
   */
  needsReplay(): boolean {
    const log = this.open
    if (!log) return true
    if (log.current) return false
    return logFiles(this.dir).some(name => !log.ours.has(name))
  }

  /**
   * Replays the logs of the folder left by another process or an earlier run (durably: each
   * record's files are written, fdatasync'd and renamed; the folder fsync'd), then removes them.
   * A log of this process is checkpointed first. Returns how many records ran.
   */
  async replay(sync: boolean): Promise<number> {
    const dir = this.dir
    if (this.open) {
      // Ours are folded into the files; whatever log is left was written by another process
      // since (a session whose lease moved here), and numbering restarts after it.
      await this.checkpoint(sync)
      this.forget()
    }
    const files = logFiles(dir)
    let replayed = 0
    // The newest value per file: the logs are removed only once all of them are in place, so a
    // crash meanwhile replays them again (each batch is still all or nothing at the end).
    const newest = new Map<string, Uint8Array | undefined>()
    for (const name of files) {
      for (const ops of decodeRecords(readMaybe(join(dir, name)) ?? Buffer.alloc(0))) {
        for (const op of ops) newest.set(op.target, op.value)
        replayed++
      }
    }
    const plan: JournalOp[] = [...newest].map(([target, value]) => (value ? { target, tmp: tempName() } : { target }))
    const temps = plan.flatMap(op => (op.tmp ? [[op.tmp, newest.get(op.target)!] as const] : []))
    await writeTemps(dir, temps, false) // flushed once below; the logs stay until then
    try {
      applyOps(dir, plan, false)
    } catch (err) {
      removeTemps(
        dir,
        temps.map(([t]) => t)
      )
      throw err
    }
    // The replayed files are durable in place before their logs go.
    if (files.length > 0) await this.flushFiles(files, [...newest.keys()], sync)
    return replayed
  }

  /** Waits while MAX_FLUSHES_IN_FLIGHT checkpoints of the folder are flushing (see there). */
  async checkpointsCaughtUp(): Promise<void> {
    while (this.flushing.size >= MAX_FLUSHES_IN_FLIGHT) {
      await Promise.race(this.flushing).catch(() => undefined) // a failed flush keeps its logs; it no longer holds the writer
    }
  }

  /**
   * Writes a record at the end of the open log (a new log when none). `durable` are the flushes
   * that make it so (none without sync); `size` is the log's size before it, for `abandon`.
   */
  appendRecord(record: Buffer, sync: boolean): { size: number; durable: Array<Promise<void>> } {
    const log = (this.open ??= this.openLog())
    let current = log.current
    let created = false
    if (!current) {
      const name = `${LOG_PREFIX}${log.next++}`
      const fd = openSync(join(this.dir, name), 'wx', FILE_MODE)
      current = log.current = { fd, name, size: 0 }
      log.files.add(name)
      log.ours.add(name)
      created = true
    }
    const size = current.size
    try {
      for (let at = 0; at < record.length;) at += writeSync(current.fd, record, at, record.length - at)
    } catch (err) {
      this.abandon(size)
      throw err
    }
    current.size += record.length
    if (!sync) return { size, durable: [] }
    // A new log's name is durable once the folder is fsync'd.
    return { size, durable: created ? [fdatasyncAsync(current.fd), syncDir(this.dir, sync)] : [fdatasyncAsync(current.fd)] }
  }

  /** A failed append: cut the record off (so it is never replayed) and start a new log next time. */
  abandon(size: number): void {
    const current = this.open?.current
    if (!current) return
    try {
      ftruncateSync(current.fd, size)
    } catch {
      // the record is torn or whole: torn is skipped on replay; whole was not acknowledged either way
    }
    try {
      closeSync(current.fd)
    } catch {
      // already closed
    }
    this.open!.current = undefined
  }

  /** The record is durable: readers of this process see its values from now on. */
  committed(writes: ReadonlyArray<readonly [target: string, value: Uint8Array | null]>, bytes: number, sync: boolean): void {
    const log = this.open!
    for (const [target, value] of writes) log.pending.set(target, { value })
    log.bytes += bytes
    this.scheduleCheckpoint(log, sync)
  }

  /**
   * Makes every write of the folder durable in place and removes its logs. Call it in the
   * folder's turn (drop, rename, recovery, close).
   */
  async checkpoint(sync: boolean): Promise<void> {
    const flush = this.rotate(sync)
    await Promise.allSettled([...this.flushing])
    await flush?.()
  }

  /** Waits for the folder's checkpoint flushes in flight (before the folder moves away). */
  async flushesSettled(): Promise<void> {
    await Promise.allSettled([...this.flushing])
  }

  /** Forgets the folder's log without touching the disk (its folder was moved or removed). */
  forget(): void {
    const log = this.open
    if (!log) return
    clearTimeout(log.timer)
    if (log.current) closeSync(log.current.fd)
    this.open = undefined
  }

  private openLog(): OpenLog {
    // Logs left by another process or run must not be mixed with ours: the caller replayed them
    // (the driver's recovery) before writing; numbering continues after any that appeared since.
    const existing = logFiles(this.dir)
    const newest = existing.at(-1)
    const last = newest === undefined ? 0 : logNumber(newest)
    return { files: new Set(existing), pending: new Map(), ours: new Set(existing), next: last + 1, bytes: 0 }
  }

  private scheduleCheckpoint(log: OpenLog, sync: boolean): void {
    const run = () =>
      void this.inTurn(async () => this.rotate(sync))
        .then(flush => flush?.())
        .catch(() => undefined) // a failed checkpoint keeps its logs: the next one retries, or replay on open
    if (log.bytes >= CHECKPOINT_BYTES) {
      clearTimeout(log.timer)
      log.timer = undefined
      return run()
    }
    // Counted from the first record since the last checkpoint, so a busy folder is checkpointed too.
    if (log.timer) return
    log.timer = setTimeout(run, CHECKPOINT_AGE_MS)
    log.timer.unref()
  }

  /**
   * Starts a checkpoint (call it in the folder's turn): the next record goes to a new log, and
   * the returned flush makes the files written so far durable in place (fdatasync each, fsync
   * the folder), then removes the logs before the new one. The flush runs outside the turn:
   * writes of the folder go on meanwhile.
   */
  private rotate(sync: boolean): (() => Promise<void>) | undefined {
    const log = this.open
    if (!log) return undefined
    clearTimeout(log.timer)
    log.timer = undefined
    if (log.files.size === 0) return undefined
    const files = [...log.files]
    const writes = [...log.pending]
    if (log.current) closeSync(log.current.fd)
    log.current = undefined // the next append starts a new log
    log.files = new Set()
    log.bytes = 0
    const materialise = async () => {
      await writeInPlace(this.dir, log.pending, writes, sync)
      await this.removeLogs(files)
    }
    const job = (log.flushTail ?? Promise.resolve()).then(materialise, materialise).catch(err => {
      // Not durable in place yet: keep the logs (replayed on the next open); the next checkpoint
      // retries (the index still holds every value not written in place).
      if (this.open) for (const f of files) this.open.files.add(f)
      throw err
    })
    log.flushTail = job.catch(() => undefined)
    this.flushing.add(job)
    const done = () => this.flushing.delete(job)
    void job.then(done, done)
    return () => job
  }

  /** Not fsync'd: a log whose removal is lost replays values already in place (and older than any later log's, which replays after it). */
  private async removeLogs(files: readonly string[]): Promise<void> {
    for (const name of files) {
      await unlinkAsync(this.dir, name)
      this.open?.ours.delete(name)
    }
  }

  /** Replay: the files just written in place are made durable (fdatasync each, fsync the folder), then the logs go. */
  private async flushFiles(files: string[], touched: string[], sync: boolean): Promise<void> {
    const dir = this.dir
    if (sync) {
      await Promise.all(
        touched.map(async name => {
          let fd: number
          try {
            fd = openSync(join(dir, name), 'r')
          } catch (err) {
            if (isMissing(err)) return // deleted: the folder's fsync below makes that durable
            throw err
          }
          try {
            await fdatasyncAsync(fd)
          } finally {
            closeSync(fd)
          }
        })
      )
      await syncDir(dir, sync)
    }
    await this.removeLogs(files)
  }
}

/**
 * Appends one record per folder (each folder's batches of a group, in order) and makes them
 * durable together: the commit point of every folder at once. Throws for the group when any
 * append fails (a record that did not make it is truncated away first, and that log is not
 * appended to again).
 */
export async function appendRecords(
  records: ReadonlyArray<{ log: FolderLog; record: Buffer; writes: ReadonlyArray<readonly [target: string, value: Uint8Array | null]> }>,
  sync: boolean
): Promise<void> {
  for (const { log } of records) await log.checkpointsCaughtUp()
  const syncs: Array<Promise<void>> = []
  const written: Array<{ log: FolderLog; size: number }> = []
  try {
    for (const { log, record } of records) {
      const { size, durable } = log.appendRecord(record, sync)
      written.push({ log, size })
      syncs.push(...durable)
    }
    await Promise.all(syncs)
  } catch (err) {
    await Promise.allSettled(syncs)
    for (const { log, size } of written) log.abandon(size)
    throw err
  }
  for (const { log, record, writes } of records) log.committed(writes, record.length, sync)
}

/** Whether a folder holds a log (a read-only open reports it as an unfinished batch). */
export const hasLog = (dir: string) => logFiles(dir).length > 0

/**
 * The writes in folders' logs on disk, newest per file, for a read-only open (the writer may be
 * another process, or gone). Best effort while a writer runs: a record appended after a read is
 * seen by the next one. Each store keeps the last 16 folders' decoded logs, with the log names
 * and sizes they were read at.
 */
export class LogsOnDisk {
  private readonly cache = new Map<string, { signature: string; writes: Map<string, LoggedWrite> }>()

  read(dir: string): ReadonlyMap<string, LoggedWrite> | undefined {
    const files = logFiles(dir)
    if (files.length === 0) return undefined
    const signature = files.map(name => `${name}:${statSync(join(dir, name), { throwIfNoEntry: false })?.size}`).join('/')
    const cached = this.cache.get(dir)
    if (cached?.signature === signature) return cached.writes
    const writes = new Map<string, LoggedWrite>()
    for (const name of files)
      for (const ops of decodeRecords(readMaybe(join(dir, name)) ?? Buffer.alloc(0))) for (const op of ops) writes.set(op.target, { value: op.value ?? null })
    if (this.cache.size >= 16) this.cache.clear()
    this.cache.set(dir, { signature, writes })
    return writes
  }
}
