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
 * value of each file lives in this process's index of the folder (`loggedWrites`), where the
 * driver reads it, and a checkpoint (a second after the folder's first record since the last
 * one, when its log reaches 4 MiB, and before drop, rename and close) writes each file once,
 * however often it was rewritten meanwhile, off the event loop (file-in-place.ts),
 * fsyncs the folder and removes the logs. So a session rewritten per message costs one log
 * append per write and one file per checkpoint.
 *
 * What the folder shows while the store is open: the files as of the last checkpoint (or a mix
 * of that and the next one while a checkpoint runs), plus the logs; a read-only open of this
 * store reads the logs too (`loggedWritesOnDisk`), Baileys itself does not. After a crash, the
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
  return names.filter(n => LOG_PATTERN.test(n)).sort((a, b) => Number(LOG_PATTERN.exec(a)![1]) - Number(LOG_PATTERN.exec(b)![1]))
}

/** This process's open log of a folder. */
interface FolderLog {
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

/** Folder path → its log in this process. Module-wide: every driver instance on a folder shares it. */
const logs = new Map<string, FolderLog>()

/**
 * Whether `dir` may hold a log this process did not write (left by another process that had
 * the session's lease, or by an earlier run): it must be replayed before this process appends.
 * Checked when the folder's next record starts a new log (a readdir once per checkpoint).
 */
export function needsReplay(dir: string): boolean {
  const log = logs.get(dir)
  if (!log) return true
  if (log.current) return false
  return logFiles(dir).some(name => !log.ours.has(name))
}

/** Folders that have records not yet checkpointed (close checkpoints them). */
export const loggedFolders = (): string[] => [...new Set([...[...logs].filter(([, log]) => log.files.size > 0).map(([dir]) => dir), ...flushing.keys()])]

/**
 * Replays the logs of a folder left by another process or an earlier run (durably: each
 * record's files are written, fdatasync'd and renamed; the folder fsync'd), then removes them.
 * A folder with a log of this process is checkpointed first. Returns how many records ran.
 */
export async function replayLogs(dir: string, sync: boolean): Promise<number> {
  if (logs.has(dir)) {
    // Ours are folded into the files; whatever log is left was written by another process
    // since (a session whose lease moved here), and numbering restarts after it.
    await checkpoint(dir, sync)
    forgetLog(dir)
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
  if (files.length > 0) await flushFiles(dir, files, [...newest.keys()], sync)
  return replayed
}

/** What this process committed to a folder's log and has not written in place yet (read-write stores). */
export const loggedWrites = (dir: string): ReadonlyMap<string, LoggedWrite> | undefined => logs.get(dir)?.pending

/** The last folders' writes decoded from their logs on disk, with the log names and sizes they were read at. */
const onDisk = new Map<string, { signature: string; writes: Map<string, LoggedWrite> }>()

/**
 * The writes in a folder's logs on disk, newest per file (a read-only open: the writer may be
 * another process, or gone). Best effort while a writer runs: a record appended after this read
 * is seen by the next one.
 */
export function loggedWritesOnDisk(dir: string): ReadonlyMap<string, LoggedWrite> | undefined {
  const files = logFiles(dir)
  if (files.length === 0) return undefined
  const signature = files.map(name => `${name}:${statSync(join(dir, name), { throwIfNoEntry: false })?.size}`).join('/')
  const cached = onDisk.get(dir)
  if (cached?.signature === signature) return cached.writes
  const writes = new Map<string, LoggedWrite>()
  for (const name of files)
    for (const ops of decodeRecords(readMaybe(join(dir, name)) ?? Buffer.alloc(0))) for (const op of ops) writes.set(op.target, { value: op.value ?? null })
  if (onDisk.size >= 16) onDisk.clear()
  onDisk.set(dir, { signature, writes })
  return writes
}

/** Whether a folder holds a log (a read-only open reports it as an unfinished batch). */
export const hasLog = (dir: string) => logFiles(dir).length > 0

/**
 * Appends one record per folder (each folder's batches of a group, in order) and makes them
 * durable together: the commit point of every folder at once. Throws for the group when any
 * append fails (a record that did not make it is truncated away first, and that log is not
 * appended to again).
 */
export async function appendRecords(
  records: ReadonlyArray<{ dir: string; record: Buffer; writes: ReadonlyArray<readonly [target: string, value: Uint8Array | null]> }>,
  sync: boolean
): Promise<void> {
  for (const { dir } of records) await checkpointsCaughtUp(dir)
  const syncs: Array<Promise<void>> = []
  const written: Array<{ log: FolderLog; size: number }> = []
  try {
    for (const { dir, record } of records) {
      const log = logs.get(dir) ?? openFolderLog(dir)
      let current = log.current
      let created = false
      if (!current) {
        const name = `${LOG_PREFIX}${log.next++}`
        const fd = openSync(join(dir, name), 'wx', FILE_MODE)
        current = log.current = { fd, name, size: 0 }
        log.files.add(name)
        log.ours.add(name)
        created = true
      }
      written.push({ log, size: current.size })
      for (let at = 0; at < record.length;) at += writeSync(current.fd, record, at, record.length - at)
      current.size += record.length
      if (sync) {
        syncs.push(fdatasyncAsync(current.fd))
        if (created) syncs.push(syncDir(dir, sync)) // the new log's name
      }
    }
    await Promise.all(syncs)
  } catch (err) {
    await Promise.allSettled(syncs)
    for (const { log, size } of written) abandon(log, size)
    throw err
  }
  // Committed: readers of this process see the values from now on.
  records.forEach(({ dir, record, writes }, i) => {
    const log = written[i].log
    for (const [target, value] of writes) log.pending.set(target, { value })
    log.bytes += record.length
    scheduleCheckpoint(dir, log, sync)
  })
}

/** A failed append: cut the record off (so it is never replayed) and start a new log next time. */
function abandon(log: FolderLog, size: number): void {
  const current = log.current
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
  log.current = undefined
}

function openFolderLog(dir: string): FolderLog {
  // Logs left by another process or run must not be mixed with ours: the caller replayed them
  // (readyDir) before writing; numbering continues after any that appeared since.
  const existing = logFiles(dir)
  const last = existing.length ? Number(LOG_PATTERN.exec(existing[existing.length - 1])![1]) : 0
  const log: FolderLog = { files: new Set(existing), pending: new Map(), ours: new Set(existing), next: last + 1, bytes: 0 }
  logs.set(dir, log)
  return log
}

/** Checkpoints start on the folder's write queue (set by the driver), so no append is half done. */
let queueOf: <T>(dir: string, task: () => Promise<T>) => Promise<T> = (_dir, task) => task()
export function setCheckpointQueue(queue: typeof queueOf): void {
  queueOf = queue
}

/** Folder → its checkpoints still flushing (close and drop wait for them). */
const flushing = new Map<string, Set<Promise<void>>>()

/**
 * Checkpoint flushes a folder may have in flight before its next append waits. Every value
 * committed and not yet written in place stays in memory (the index serves it), so a writer
 * faster than the checkpoints (a migration into a folder) must wait for them: its memory stays
 * bounded by a few checkpoints' worth (CHECKPOINT_BYTES each) instead of growing with the copy.
 */
const MAX_FLUSHES_IN_FLIGHT = 2

async function checkpointsCaughtUp(dir: string): Promise<void> {
  for (let inFlight = flushing.get(dir); inFlight && inFlight.size >= MAX_FLUSHES_IN_FLIGHT; inFlight = flushing.get(dir)) {
    await Promise.race(inFlight).catch(() => undefined) // a failed flush keeps its logs; it no longer holds the writer
  }
}

function scheduleCheckpoint(dir: string, log: FolderLog, sync: boolean): void {
  const run = () =>
    void queueOf(dir, async () => rotate(dir, sync))
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
 * Starts a checkpoint (call it on the folder's write queue): the next record goes to a new
 * log, and the returned flush makes the files written so far durable in place (fdatasync
 * each, fsync the folder), then removes the logs before the new one. The flush runs off the
 * queue: writes of the folder go on meanwhile.
 */
function rotate(dir: string, sync: boolean): (() => Promise<void>) | undefined {
  const log = logs.get(dir)
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
    await writeInPlace(dir, log.pending, writes, sync)
    await removeLogs(dir, files)
  }
  const job = (log.flushTail ?? Promise.resolve()).then(materialise, materialise).catch(err => {
    // Not durable in place yet: keep the logs (replayed on the next open); the next checkpoint
    // retries (the index still holds every value not written in place).
    const again = logs.get(dir)
    if (again) for (const f of files) again.files.add(f)
    throw err
  })
  log.flushTail = job.catch(() => undefined)
  const set = flushing.get(dir) ?? new Set()
  flushing.set(dir, set)
  set.add(job)
  const done = () => {
    set.delete(job)
    if (set.size === 0 && flushing.get(dir) === set) flushing.delete(dir)
  }
  void job.then(done, done)
  return () => job
}

/** Not fsync'd: a log whose removal is lost replays values already in place (and older than any later log's, which replays after it). */
async function removeLogs(dir: string, files: readonly string[]): Promise<void> {
  for (const name of files) {
    await unlinkAsync(dir, name)
    logs.get(dir)?.ours.delete(name)
  }
}

/** Replay: the files just written in place are made durable (fdatasync each, fsync the folder), then the logs go. */
async function flushFiles(dir: string, files: string[], touched: string[], sync: boolean): Promise<void> {
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
  await removeLogs(dir, files)
}

/**
 * Makes every write of the folder durable in place and removes its logs. Call it on the
 * folder's write queue (drop, rename, recovery).
 */
export async function checkpoint(dir: string, sync: boolean): Promise<void> {
  const flush = rotate(dir, sync)
  await Promise.allSettled([...(flushing.get(dir) ?? [])])
  await flush?.()
}

/** Waits for the folder's checkpoint flushes in flight (before the folder moves away). */
export async function flushesSettled(dir: string): Promise<void> {
  await Promise.allSettled([...(flushing.get(dir) ?? [])])
}

/** Forgets a folder's log without touching the disk (its folder was moved or removed). */
export function forgetLog(dir: string): void {
  const log = logs.get(dir)
  if (!log) return
  clearTimeout(log.timer)
  if (log.current) closeSync(log.current.fd)
  logs.delete(dir)
}
