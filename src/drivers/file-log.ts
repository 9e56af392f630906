import { createHash } from 'node:crypto'
import { closeSync, fdatasync, ftruncateSync, openSync, readdirSync, unlinkSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { FILE_MODE, applyOps, isMissing, readMaybe, removeTemps, syncDir, tempName, writeTemps, type JournalOp } from './file-io.js'

/**
 * The commit log of one session folder: what makes a write durable with one fdatasync.
 *
 * A committed batch is one record appended to `.vault-log-<n>` in its folder: every value the
 * batch writes and every file it deletes, with the record's length and SHA-256. The write is
 * durable once the record is fdatasync'd (and, for a log file just created, the folder
 * fsync'd): that is the commit point. The batch's files are then renamed into place from temp
 * files written before the commit point, without fsyncing each of them: if the OS crashes
 * before they reach the disk, replaying the log rewrites them. A checkpoint (after a quiet
 * moment, when a log grows big, and before drop, rename and close) fdatasyncs the files
 * written since the last one, fsyncs the folder and removes the logs; so one fsync per file
 * and folder covers many writes of it, instead of two per write.
 *
 * Recovery replays every log of a folder in order (a torn or damaged record ends its log:
 * that batch never committed, nothing was acknowledged), durably, then removes the logs.
 * A record is replayed whole or not at all, so each batch stays all or nothing.
 */
const LOG_PREFIX = '.vault-log-'
const LOG_PATTERN = /^\.vault-log-(\d+)$/
const HEADER = 'baileys-vault log 1'
/** A log this big is checkpointed after the group that grew it (bounds replay time). */
const CHECKPOINT_BYTES = 4 * 1024 * 1024
/** A folder is checkpointed this long after its first record since the last checkpoint. */
const CHECKPOINT_AGE_MS = 1000

const fdatasyncAsync = promisify(fdatasync)

/** One operation of a record: `value` undefined deletes `target`. */
export interface LogOp {
  target: string
  value?: Uint8Array
}

export function encodeRecord(ops: readonly LogOp[]): Buffer {
  const body = Buffer.from(JSON.stringify(ops.map(op => (op.value ? [op.target, Buffer.from(op.value).toString('base64')] : [op.target]))), 'utf8')
  const sum = createHash('sha256').update(body).digest('hex')
  return Buffer.concat([Buffer.from(`${HEADER} ${body.length} ${sum}\n`, 'utf8'), body])
}

const safeTarget = (name: unknown): name is string =>
  // eslint-disable-next-line no-control-regex -- NUL is what is refused
  typeof name === 'string' && name.length > 0 && !name.startsWith('.') && !/[/\\\u0000]/.test(name)

/** The complete records of a log, in order, up to the first torn or damaged one. */
export function decodeRecords(bytes: Buffer): LogOp[][] {
  const records: LogOp[][] = []
  let at = 0
  while (at < bytes.length) {
    const newline = bytes.indexOf(10, at)
    if (newline < 0) break
    const m = /^baileys-vault log 1 (\d+) ([0-9a-f]{64})$/.exec(bytes.subarray(at, newline).toString('utf8'))
    if (!m) break
    const body = bytes.subarray(newline + 1, newline + 1 + Number(m[1]))
    if (body.length !== Number(m[1]) || createHash('sha256').update(body).digest('hex') !== m[2]) break
    let raw: unknown
    try {
      raw = JSON.parse(body.toString('utf8'))
    } catch {
      break
    }
    if (!Array.isArray(raw)) break
    const ops: LogOp[] = []
    for (const entry of raw) {
      if (!Array.isArray(entry) || !safeTarget(entry[0])) return records
      if (entry.length === 1) ops.push({ target: entry[0] })
      else if (entry.length === 2 && typeof entry[1] === 'string') ops.push({ target: entry[0], value: Buffer.from(entry[1], 'base64') })
      else return records
    }
    records.push(ops)
    at = newline + 1 + body.length
  }
  return records
}

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
  /** Files written or deleted since the last checkpoint. */
  touched: Set<string>
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
  const touched = new Set<string>()
  for (const name of files) {
    for (const ops of decodeRecords(readMaybe(join(dir, name)) ?? Buffer.alloc(0))) {
      const plan: JournalOp[] = ops.map(op => (op.value ? { target: op.target, tmp: tempName() } : { target: op.target }))
      const temps = plan.flatMap((op, i) => (op.tmp ? [[op.tmp, ops[i].value!] as const] : []))
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
      for (const op of ops) touched.add(op.target)
      replayed++
    }
  }
  // The replayed files are durable in place before their logs go.
  if (files.length > 0) await flushFiles(dir, files, [...touched], sync)
  return replayed
}

const unlinkQuietly = (path: string) => {
  try {
    unlinkSync(path)
  } catch (err) {
    if (!isMissing(err)) throw err
  }
}

/** Whether a folder holds a log (a read-only open reports it as an unfinished batch). */
export const hasLog = (dir: string) => logFiles(dir).length > 0

/**
 * Appends one record per folder (each folder's batches of a group, in order) and makes them
 * durable together: the commit point of every folder at once. Throws for the group when any
 * append fails (a record that did not make it is truncated away first, and that log is not
 * appended to again).
 */
export async function appendRecords(records: ReadonlyArray<{ dir: string; record: Buffer; targets: Iterable<string> }>, sync: boolean): Promise<void> {
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
  records.forEach(({ dir, record, targets }, i) => {
    const log = written[i].log
    for (const t of targets) log.touched.add(t)
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
  const log: FolderLog = { files: new Set(existing), touched: new Set(), ours: new Set(existing), next: last + 1, bytes: 0 }
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
  const touched = [...log.touched]
  if (log.current) closeSync(log.current.fd)
  log.current = undefined // the next append starts a new log
  log.files = new Set()
  log.touched = new Set()
  log.bytes = 0
  const job = flushFiles(dir, files, touched, sync).catch(err => {
    // Not durable in place yet: keep the logs (replayed on the next open); the next checkpoint retries them.
    const again = logs.get(dir)
    if (again) {
      for (const f of files) again.files.add(f)
      for (const t of touched) again.touched.add(t)
    }
    throw err
  })
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
  // Not fsync'd: a log whose removal is lost replays values already in place (and older than
  // any later log's, which replays after it).
  for (const name of files) {
    unlinkQuietly(join(dir, name))
    logs.get(dir)?.ours.delete(name)
  }
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

/** Forgets a folder's log without touching the disk (its folder was moved or removed). */
export function forgetLog(dir: string): void {
  const log = logs.get(dir)
  if (!log) return
  clearTimeout(log.timer)
  if (log.current) closeSync(log.current.fd)
  logs.delete(dir)
}
