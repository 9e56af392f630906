import { createHash, randomBytes } from 'node:crypto'
import { closeSync, fdatasync, fsync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs'
import { open, rename, unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { removeCompanionsSync } from './file-companions.js'

/**
 * Durable file-system steps of the file: store. One concern: getting bytes onto disk so that
 * a crash at any instant leaves a folder at the previous or the next batch.
 *
 * A batch of one file: temp file (mode 0600) → write → fdatasync → rename over the target →
 * fsync the folder. A batch of several files:
 *   1. every new value goes to its own temp file, and the journal (the list of renames and
 *      deletes, with its length and SHA-256) to one more; all fdatasync'd in parallel;
 *   2. the journal is renamed to `.vault-journal` and the folder fsync'd: the commit point;
 *   3. the renames and deletes are applied and the folder fsync'd; then the journal is removed.
 * Recovery (on open, and after any failure past the commit point) replays a complete journal
 * (renames whose temp file is gone were already done; deletes are idempotent) and discards a
 * damaged one; temp files no live process owns are removed. Temp names never repeat, so
 * replaying an old journal can never move a newer file.
 *
 * Page-cache-speed system calls (open, write, rename, unlink) of a journal or a replay run
 * synchronously, so the renames of a batch are one uninterrupted step of the event loop; the
 * fsyncs, the slow part, run in libuv's thread pool, so other sessions go on while a batch
 * becomes durable. A checkpoint's files (replaceFileAsync) are written entirely on the pool.
 */
export const JOURNAL = '.vault-journal'
const TEMP_PREFIX = '.vault-tmp-'
const TEMP_PATTERN = /^\.vault-tmp-(\d+)-\d+-[0-9a-f]+$/
export const TRASH_PREFIX = '.vault-trash-'
export const FILE_MODE = 0o600
export const DIR_MODE = 0o700

const fdatasyncAsync = promisify(fdatasync)
const fsyncAsync = promisify(fsync)

/** Temp files this process is writing right now (every driver instance): never "stray". */
const inFlight = new Set<string>()
let sequence = 0

export const uniqueName = (prefix: string) => `${prefix}${process.pid}-${++sequence}-${randomBytes(4).toString('hex')}`

/** A fresh temp file name (name them first when a journal must list them before they exist). */
export const tempName = () => uniqueName(TEMP_PREFIX)

const code = (err: unknown) => (err as NodeJS.ErrnoException)?.code
export const isMissing = (err: unknown) => code(err) === 'ENOENT' || code(err) === 'ENOTDIR'

/** fsync a directory, making the names created, renamed or removed in it durable. */
export async function syncDir(dir: string, sync: boolean): Promise<void> {
  if (!sync) return
  const fd = openSync(dir, 'r')
  try {
    await fsyncAsync(fd)
  } finally {
    closeSync(fd)
  }
}

/**
 * Writes each [temp name, bytes] to a new file in `dir` (0600), then fdatasyncs them all in
 * parallel. On any failure every one of them is removed.
 */
export async function writeTemps(dir: string, files: ReadonlyArray<readonly [name: string, data: Uint8Array]>, sync: boolean): Promise<void> {
  const fds: number[] = []
  try {
    for (const [name, data] of files) {
      const path = join(dir, name)
      inFlight.add(path)
      const fd = openSync(path, 'wx', FILE_MODE)
      fds.push(fd)
      for (let at = 0; at < data.byteLength;) at += writeSync(fd, data, at, data.byteLength - at)
    }
    if (sync) await Promise.all(fds.map(fd => fdatasyncAsync(fd)))
  } catch (err) {
    removeTemps(
      dir,
      files.map(([name]) => name)
    )
    throw err
  } finally {
    for (const fd of fds) closeSync(fd)
  }
}

/**
 * Replaces `target` in `dir` with `data` off the event loop (libuv's thread pool): a new temp
 * file (0600), written, fdatasync'd when `sync`, renamed over the target. A failure removes the
 * temp file. The folder's fsync is the caller's (once for many files).
 */
export async function replaceFileAsync(dir: string, target: string, data: Uint8Array, sync: boolean): Promise<void> {
  const path = join(dir, tempName())
  inFlight.add(path)
  try {
    const handle = await open(path, 'wx', FILE_MODE)
    try {
      await handle.writeFile(data)
      if (sync) await handle.datasync()
    } finally {
      await handle.close()
    }
    await rename(path, join(dir, target))
  } catch (err) {
    await unlink(path).catch(() => undefined)
    throw err
  } finally {
    inFlight.delete(path)
  }
}

/** Deletes `target` in `dir` off the event loop; a file already gone is fine. */
export async function unlinkAsync(dir: string, target: string): Promise<void> {
  try {
    await unlink(join(dir, target))
  } catch (err) {
    if (!isMissing(err)) throw err
  }
}

/** The temp file is renamed or removed: no longer ours to protect. */
export const releaseTemp = (dir: string, name: string) => inFlight.delete(join(dir, name))

export function removeTemps(dir: string, names: Iterable<string>): void {
  for (const name of names) {
    try {
      unlinkSync(join(dir, name))
    } catch {
      // already gone, or never created
    }
    releaseTemp(dir, name)
  }
}

/** Creates `dir` (and missing parents) with mode 0700, durably. Returns whether it created it. */
export async function makeDir(dir: string, sync: boolean): Promise<boolean> {
  try {
    mkdirSync(dir, { mode: DIR_MODE })
  } catch (err) {
    if (code(err) === 'EEXIST') return false
    if (code(err) !== 'ENOENT') throw err
    await makeDir(dirname(dir), sync)
    return makeDir(dir, sync)
  }
  await syncDir(dirname(dir), sync)
  return true
}

/** One journal entry: rename `tmp` over `target`, or (no tmp) delete `target`. */
export interface JournalOp {
  target: string
  tmp?: string
}

export function encodeJournal(ops: readonly JournalOp[]): Buffer {
  const body = Buffer.from(JSON.stringify(ops.map(op => (op.tmp ? [op.target, op.tmp] : [op.target]))), 'utf8')
  const sum = createHash('sha256').update(body).digest('hex')
  return Buffer.concat([Buffer.from(`baileys-vault journal 1 ${body.length} ${sum}\n`, 'utf8'), body])
}

/** A file name a journal or log may name: in the folder, not hidden (ours start with a dot). */
export const safeTarget = (name: unknown): name is string =>
  // eslint-disable-next-line no-control-regex -- NUL is what is refused
  typeof name === 'string' && name.length > 0 && !name.startsWith('.') && !/[/\\\u0000]/.test(name)

/**
 * The entries of a text record: a header line `<header> <body length> <sha-256 hex>`, then a
 * JSON array of arrays whose first element is a safe target. Undefined when the record is torn,
 * damaged or not this kind (the caller checks the rest of each entry).
 */
export function decodeCheckedEntries(bytes: Buffer, options: { start: number; header: string }): { entries: unknown[][]; end: number } | undefined {
  const newline = bytes.indexOf(10, options.start)
  if (newline < 0) return undefined
  const m = /^(.*) (\d+) ([0-9a-f]{64})$/.exec(bytes.subarray(options.start, newline).toString('utf8'))
  if (!m || m[1] !== options.header) return undefined
  const body = bytes.subarray(newline + 1, newline + 1 + Number(m[2]))
  if (body.length !== Number(m[2]) || createHash('sha256').update(body).digest('hex') !== m[3]) return undefined
  let raw: unknown
  try {
    raw = JSON.parse(body.toString('utf8'))
  } catch {
    return undefined
  }
  if (!Array.isArray(raw) || !raw.every(entry => Array.isArray(entry) && safeTarget(entry[0]))) return undefined
  return { entries: raw as unknown[][], end: newline + 1 + body.length }
}

/** The journal's operations, or undefined when it is torn, damaged or not ours. */
export function decodeJournal(bytes: Buffer): JournalOp[] | undefined {
  const decoded = decodeCheckedEntries(bytes, { start: 0, header: 'baileys-vault journal 1' })
  if (!decoded || decoded.end !== bytes.length) return undefined
  const ops: JournalOp[] = []
  for (const entry of decoded.entries) {
    const target = entry[0] as string
    if (entry.length === 1) ops.push({ target })
    else if (entry.length === 2 && typeof entry[1] === 'string' && TEMP_PATTERN.test(entry[1])) ops.push({ target, tmp: entry[1] })
    else return undefined
  }
  return ops
}

/**
 * Applies journal operations in one synchronous step. A delete of a missing file is done; so,
 * during replay, is a rename whose temp file is gone.
 */
export function applyOps(dir: string, ops: readonly JournalOp[], replay: boolean): void {
  for (const op of ops) {
    try {
      if (op.tmp) {
        renameSync(join(dir, op.tmp), join(dir, op.target))
        releaseTemp(dir, op.tmp)
        removeCompanionsSync(dir, op.target)
      } else {
        removeCompanionsSync(dir, op.target)
        unlinkSync(join(dir, op.target))
      }
    } catch (err) {
      if (!(isMissing(err) && (replay || !op.tmp))) throw err
    }
  }
}

export const processAlive = (pid: number): boolean => {
  if (pid === process.pid) return true
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return code(err) === 'EPERM'
  }
}

/** Reads a file; undefined when it does not exist. */
export function readMaybe(path: string): Buffer | undefined {
  try {
    return readFileSync(path)
  } catch (err) {
    if (isMissing(err)) return undefined
    throw err
  }
}

/**
 * Brings one folder to a batch boundary: replays a complete journal, discards a damaged one,
 * removes temp files that no live writer owns and (in the root) leftover trash of dropped
 * sessions. Returns what it did, for tests and diagnostics.
 */
export async function recoverDir(dir: string, sync: boolean): Promise<{ replayed: boolean; discarded: boolean; removed: number }> {
  const result = { replayed: false, discarded: false, removed: 0 }
  const journal = readMaybe(join(dir, JOURNAL))
  if (journal) {
    const ops = decodeJournal(journal)
    if (ops) {
      applyOps(dir, ops, true)
      await syncDir(dir, sync) // the replayed batch is durable before its journal goes
      result.replayed = true
    } else {
      result.discarded = true
    }
    try {
      unlinkSync(join(dir, JOURNAL))
    } catch (err) {
      if (!isMissing(err)) throw err
    }
    await syncDir(dir, sync)
  }
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch (err) {
    if (isMissing(err)) return result
    throw err
  }
  for (const name of names) {
    const temp = TEMP_PATTERN.exec(name)
    if (temp) {
      const path = join(dir, name)
      if (inFlight.has(path) || (Number(temp[1]) !== process.pid && processAlive(Number(temp[1])))) continue
      removeTemps(dir, [name])
      result.removed++
    } else if (name.startsWith(TRASH_PREFIX)) {
      rmSync(join(dir, name), { recursive: true, force: true })
      result.removed++
    }
  }
  return result
}

/** Whether a path exists (without following a final symlink). */
export function exists(path: string): boolean {
  try {
    lstatSync(path)
    return true
  } catch (err) {
    if (isMissing(err)) return false
    throw err
  }
}
