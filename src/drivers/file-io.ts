import { createHash, randomBytes } from 'node:crypto'
import { lstat, mkdir, open, readdir, readFile, rename, rm, unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'

/**
 * Durable file-system steps of the file: store. One concern: getting bytes onto disk so that
 * a crash at any instant leaves a folder at the previous or the next batch.
 *
 * A batch of one file: temp file (mode 0600) → write → fdatasync → rename over the target →
 * fsync the folder. A batch of several files:
 *   1. every new value goes to its own temp file, fdatasync'd, in parallel, together with the
 *      journal (the list of renames and deletes, with its length and SHA-256) in a temp file;
 *   2. the journal is renamed to `.vault-journal` and the folder fsync'd: the commit point;
 *   3. the renames and deletes are applied and the folder fsync'd; then the journal is removed.
 * Recovery (on open, and after any failure past the commit point) replays a complete journal
 * (renames whose temp file is gone were already done; deletes are idempotent) and discards a
 * damaged one; temp files no live process owns are removed. Temp names never repeat, so
 * replaying an old journal can never move a newer file.
 */
export const JOURNAL = '.vault-journal'
const TEMP_PREFIX = '.vault-tmp-'
const TEMP_PATTERN = /^\.vault-tmp-(\d+)-\d+-[0-9a-f]+$/
export const TRASH_PREFIX = '.vault-trash-'
export const FILE_MODE = 0o600
export const DIR_MODE = 0o700

/** Temp files this process is writing right now (every driver instance): never "stray". */
const inFlight = new Set<string>()
let sequence = 0

export const uniqueName = (prefix: string) => `${prefix}${process.pid}-${++sequence}-${randomBytes(4).toString('hex')}`

/** A fresh temp file name (name them first when a journal must list them before they exist). */
export const tempName = () => uniqueName(TEMP_PREFIX)

export const isMissing = (err: unknown) => (err as NodeJS.ErrnoException)?.code === 'ENOENT' || (err as NodeJS.ErrnoException)?.code === 'ENOTDIR'

/** fsync a directory, making the names created, renamed or removed in it durable. */
export async function syncDir(dir: string, sync: boolean): Promise<void> {
  if (!sync) return
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** Writes `data` to a new temp file in `dir` (0600, fdatasync'd); returns its name. */
export async function writeTemp(dir: string, data: Uint8Array, sync: boolean, name = tempName()): Promise<string> {
  const path = join(dir, name)
  inFlight.add(path)
  try {
    const handle = await open(path, 'wx', FILE_MODE)
    try {
      await handle.writeFile(data)
      if (sync) await handle.datasync()
    } finally {
      await handle.close()
    }
  } catch (err) {
    inFlight.delete(path)
    await unlink(path).catch(() => undefined)
    throw err
  }
  return name
}

/** The temp file is renamed or removed: no longer ours to protect. */
export const releaseTemp = (dir: string, name: string) => inFlight.delete(join(dir, name))

export async function removeTemps(dir: string, names: Iterable<string>): Promise<void> {
  await Promise.all([...names].map(name => unlink(join(dir, name)).catch(() => undefined).finally(() => releaseTemp(dir, name))))
}

/** Creates `dir` (and missing parents) with mode 0700, durably. Returns whether it created it. */
export async function makeDir(dir: string, sync: boolean): Promise<boolean> {
  try {
    await mkdir(dir, { mode: DIR_MODE })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') return false
    if (code !== 'ENOENT') throw err
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

const safeTarget = (name: unknown): name is string =>
  typeof name === 'string' && name.length > 0 && !name.startsWith('.') && !/[/\\\u0000]/.test(name)

/** The journal's operations, or undefined when it is torn, damaged or not ours. */
export function decodeJournal(bytes: Buffer): JournalOp[] | undefined {
  const newline = bytes.indexOf(10)
  if (newline < 0) return undefined
  const header = bytes.subarray(0, newline).toString('utf8')
  const m = /^baileys-vault journal 1 (\d+) ([0-9a-f]{64})$/.exec(header)
  if (!m) return undefined
  const body = bytes.subarray(newline + 1)
  if (body.length !== Number(m[1]) || createHash('sha256').update(body).digest('hex') !== m[2]) return undefined
  let raw: unknown
  try {
    raw = JSON.parse(body.toString('utf8'))
  } catch {
    return undefined
  }
  if (!Array.isArray(raw)) return undefined
  const ops: JournalOp[] = []
  for (const entry of raw) {
    if (!Array.isArray(entry) || !safeTarget(entry[0])) return undefined
    if (entry.length === 1) ops.push({ target: entry[0] })
    else if (entry.length === 2 && typeof entry[1] === 'string' && TEMP_PATTERN.test(entry[1])) ops.push({ target: entry[0], tmp: entry[1] })
    else return undefined
  }
  return ops
}

/** Applies journal operations; a rename whose temp file is gone was already applied. */
export async function applyOps(dir: string, ops: readonly JournalOp[], replay: boolean): Promise<void> {
  await Promise.all(
    ops.map(async op => {
      try {
        if (op.tmp) {
          await rename(join(dir, op.tmp), join(dir, op.target))
          releaseTemp(dir, op.tmp)
        } else {
          await unlink(join(dir, op.target))
        }
      } catch (err) {
        // A delete of a missing file is done; during replay so is a rename whose temp is gone.
        if (!(isMissing(err) && (replay || !op.tmp))) throw err
      }
    })
  )
}

const processAlive = (pid: number): boolean => {
  if (pid === process.pid) return true
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Brings one folder to a batch boundary: replays a complete journal, discards a damaged one,
 * removes temp files that no live writer owns and (in the root) leftover trash of dropped
 * sessions. Returns what it did, for tests and diagnostics.
 */
export async function recoverDir(dir: string, sync: boolean): Promise<{ replayed: boolean; discarded: boolean; removed: number }> {
  const result = { replayed: false, discarded: false, removed: 0 }
  let journal: Buffer | undefined
  try {
    journal = await readFile(join(dir, JOURNAL))
  } catch (err) {
    if (!isMissing(err)) throw err
  }
  if (journal) {
    const ops = decodeJournal(journal)
    if (ops) {
      await applyOps(dir, ops, true)
      await syncDir(dir, sync)
      result.replayed = true
    } else {
      result.discarded = true
    }
    await unlink(join(dir, JOURNAL)).catch(err => {
      if (!isMissing(err)) throw err
    })
    await syncDir(dir, sync)
  }
  let names: string[]
  try {
    names = await readdir(dir)
  } catch (err) {
    if (isMissing(err)) return result
    throw err
  }
  for (const name of names) {
    const temp = TEMP_PATTERN.exec(name)
    if (temp) {
      const path = join(dir, name)
      if (inFlight.has(path) || (Number(temp[1]) !== process.pid && processAlive(Number(temp[1])))) continue
      await unlink(path).catch(() => undefined)
      result.removed++
    } else if (name.startsWith(TRASH_PREFIX)) {
      await rm(join(dir, name), { recursive: true, force: true })
      result.removed++
    }
  }
  return result
}

/** Whether a path exists (without following a final symlink). */
export async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path)
    return true
  } catch (err) {
    if (isMissing(err)) return false
    throw err
  }
}
