import { readdirSync, renameSync, rmSync, statSync, unlinkSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Driver, ListEntry, ListOptions, WriteBatch } from '../core/driver.js'
import { VaultError, invalidArgument } from '../core/errors.js'
import {
  JOURNAL,
  TRASH_PREFIX,
  applyOps,
  encodeJournal,
  exists,
  isMissing,
  makeDir,
  readMaybe,
  recoverDir,
  releaseTemp,
  removeTemps,
  syncDir,
  tempName,
  uniqueName,
  writeTemps,
  type JournalOp
} from './file-io.js'
import {
  CREDS_FILE,
  DEFAULT_SESSION,
  SESSION_SIDECAR,
  assertFileType,
  isKeyFile,
  isSessionFolder,
  keyFile,
  parseKeyFile,
  parseSessionFolder,
  sessionFolder
} from './file-names.js'
import { fileLease } from './file-lease.js'

/**
 * Baileys' multi-file layout, made crash-safe. A folder written by Baileys'
 * useMultiFileAuthState opens in place (session `default`), and Baileys still opens a folder
 * this driver wrote: same file names (`creds.json`, `${type}-${id}.json`), same BufferJSON
 * text (the driver declares `bareJson`, so the store writes no envelope byte). Other sessions
 * are sub-folders of the root, each itself a Baileys folder. Naming rules: see file-names.ts.
 *
 * Durability (`durability: 'full'`, the default): every file is written to a temp file
 * (mode 0600), fdatasync'd, renamed over its target, and the folder fsync'd before the write
 * resolves, so an acknowledged write survives a crash of the process, the OS or the power.
 * A batch of several files goes through an fsync'd intent journal (file-io.ts): a crash at
 * any instant leaves each session folder at the previous or the next batch, never a mix.
 * Leftover journals are replayed (or, if torn, discarded) and stray temp files removed when
 * the store opens, and again for a folder whose write failed after its commit point.
 * `durability: 'process'` keeps the temp-file/rename/journal protocol but skips the fsyncs:
 * still all-or-nothing if the process dies, but the last writes may be lost on power loss.
 * Folders it creates get mode 0700; an existing folder's mode is left as it is.
 *
 * Concurrency: writes to one session folder are serialised in this process (across driver
 * instances); readers never wait for an fsync, only for the renames of a batch being applied.
 * Two processes must not write the same session at once (use a lease, file-lease.ts): a
 * second process would see, and could replay, the first one's journal.
 */
export interface FileDriverOptions {
  /** The root folder: a Baileys auth folder (session `default`) holding one sub-folder per other session. */
  path: string
  /** 'full' (default): fsync files and folders. 'process': no fsync; atomic, survives a process crash only. */
  durability?: 'full' | 'process'
}

/** Folder path → tail of its write queue. Module-wide, so two stores on one folder take turns. */
const queues = new Map<string, Promise<unknown>>()

/** Folders known to exist (created or seen by a write); forgotten on drop or a failed write. */
const knownFolders = new Set<string>()

function serialise<T>(dir: string, task: () => Promise<T>): Promise<T> {
  const run = (queues.get(dir) ?? Promise.resolve()).then(task, task)
  const tail = run.then(
    () => undefined,
    () => undefined
  )
  queues.set(dir, tail)
  void tail.then(() => queues.get(dir) === tail && queues.delete(dir))
  return run
}

interface Place {
  session: string
  dir: string
  /** Sub-folder name, or undefined for the root (session `default`). */
  folder?: string
  hashed?: boolean
}

const PAGE = 64

export async function createFileDriver(options: FileDriverOptions): Promise<Driver> {
  if (!options || typeof options.path !== 'string' || options.path.length === 0) {
    throw invalidArgument('The file: store needs a folder, e.g. file:./auth_info_baileys.')
  }
  const root = resolve(options.path)
  const sync = options.durability !== 'process'
  let rootStat
  try {
    rootStat = statSync(root)
  } catch (err) {
    if (!isMissing(err)) throw new VaultError('BACKEND_UNAVAILABLE', `Cannot open the file: store folder ${root}: ${(err as Error).message}`, { cause: err })
  }
  if (rootStat && !rootStat.isDirectory()) throw invalidArgument(`${root} is not a folder; give file: the folder of a Baileys auth state.`)

  const leases = fileLease(root, sync)
  /** Folders brought to a batch boundary by this driver instance. */
  const recovered = new Map<string, Promise<void>>()
  const pending = new Set<Promise<unknown>>()
  const track = <T>(p: Promise<T>): Promise<T> => {
    pending.add(p)
    void p.then(
      () => pending.delete(p),
      () => pending.delete(p)
    )
    return p
  }

  const place = (session: string): Place => {
    const f = sessionFolder(session)
    return f.name === undefined ? { session, dir: root } : { session, dir: join(root, f.name), folder: f.name, hashed: f.hashed }
  }

  /** Recovery of a folder, once per driver instance (again after a failed commit). */
  const readyDir = async (dir: string): Promise<void> => {
    let done = recovered.get(dir)
    if (!done) {
      done = serialise(dir, () => recoverDir(dir, sync)).then(() => undefined)
      recovered.set(dir, done)
      done.catch(() => recovered.delete(dir))
    }
    await done
  }

  /** The exact session id of a hashed folder, from its `.vault-session` file. */
  const sidecarSession = (name: string): string | undefined => {
    const text = readMaybe(join(root, name, SESSION_SIDECAR))?.toString('utf8')
    return text !== undefined && isSessionFolder(name, text) ? text : undefined
  }

  const ensureFolder = async (p: Place): Promise<void> => {
    if (knownFolders.has(p.dir)) return
    await makeDir(p.dir, sync)
    if (p.hashed) {
      const existing = readMaybe(join(p.dir, SESSION_SIDECAR))
      if (existing !== undefined && existing.toString('utf8') !== p.session) {
        throw new VaultError('CORRUPT_DATA', `Folder ${p.dir} belongs to another session than "${p.session}" (damaged ${SESSION_SIDECAR}).`)
      }
      if (existing === undefined) await replaceFile(p.dir, SESSION_SIDECAR, Buffer.from(p.session, 'utf8'))
    }
    knownFolders.add(p.dir)
  }

  /** temp file → fdatasync → rename → fsync of the folder. */
  const replaceFile = async (dir: string, target: string, value: Uint8Array): Promise<void> => {
    const tmp = tempName()
    await writeTemps(dir, [[tmp, value]], sync)
    try {
      renameSync(join(dir, tmp), join(dir, target))
      releaseTemp(dir, tmp)
    } catch (err) {
      removeTemps(dir, [tmp])
      throw err
    }
    await syncDir(dir, sync)
  }

  /** Applies target → bytes (null: delete) to one folder, all or nothing, durably. */
  const commit = async (p: Place, ops: Map<string, Uint8Array | null>, retry = true): Promise<void> => {
    await ensureFolder(p)
    for (const [target, value] of ops) if (value === null && !exists(join(p.dir, target))) ops.delete(target)
    if (ops.size === 0) return
    const plan: JournalOp[] = [...ops].map(([target, value]) => (value === null ? { target } : { target, tmp: tempName() }))
    const journalTmp = tempName()
    const files = plan.flatMap(op => (op.tmp ? [[op.tmp, ops.get(op.target)!] as const] : []))
    try {
      if (plan.length === 1) {
        // One file: a rename is atomic on its own, no journal needed.
        if (plan[0].tmp) return await replaceFile(p.dir, plan[0].target, files[0][1])
        unlinkSync(join(p.dir, plan[0].target))
        return await syncDir(p.dir, sync)
      }
      files.push([journalTmp, encodeJournal(plan)])
      await writeTemps(p.dir, files, sync)
      renameSync(join(p.dir, journalTmp), join(p.dir, JOURNAL))
      releaseTemp(p.dir, journalTmp)
    } catch (err) {
      removeTemps(p.dir, files.map(([name]) => name))
      knownFolders.delete(p.dir)
      // Nothing was committed: if the folder vanished under us, create it again and retry once.
      if (retry && isMissing(err)) return commit(p, ops, false)
      throw err
    }
    try {
      await syncDir(p.dir, sync) // commit point: from here on the batch happens, now or on recovery
      applyOps(p.dir, plan, false) // synchronous: no reader in this process sees half of it
      await syncDir(p.dir, sync)
    } catch (err) {
      recovered.delete(p.dir) // the next access replays the journal
      throw err
    }
    // Not fsync'd: if this unlink is lost, replaying the journal is a no-op (temps are gone,
    // its deletes were done), and any later acknowledged write to this folder fsyncs it.
    try {
      unlinkSync(join(p.dir, JOURNAL))
    } catch {
      // recovery removes it
    }
  }

  /** Target file → bytes (null: delete) for a batch; every name is checked before any I/O. */
  const planBatch = (batch: WriteBatch): Map<string, Uint8Array | null> => {
    const ops = new Map<string, Uint8Array | null>()
    if (batch.creds) ops.set(CREDS_FILE, batch.creds)
    for (const [type, id, value] of batch.set) {
      const k = keyFile(type, id)
      ops.set(k.file, value)
      if (k.idFile) ops.set(k.idFile, Buffer.from(id, 'utf8'))
    }
    for (const [type, id] of batch.del) {
      const k = keyFile(type, id)
      ops.set(k.file, null)
      if (k.idFile) ops.set(k.idFile, null)
    }
    return ops
  }

  /** Every key file in a folder as [type, id, file name], sorted by type then id. */
  const keyFiles = (dir: string, type?: string): Array<[string, string, string]> => {
    let names: string[]
    try {
      names = readdirSync(dir, { withFileTypes: true }).filter(e => e.isFile() || e.isSymbolicLink()).map(e => e.name)
    } catch (err) {
      if (isMissing(err)) return []
      throw err
    }
    const out: Array<[string, string, string]> = []
    for (const name of names) {
      const k = parseKeyFile(name)
      if (!k || (type !== undefined && k.type !== type)) continue
      if ('id' in k) {
        out.push([k.type, k.id, name])
        continue
      }
      const id = readMaybe(join(dir, k.idFile))?.toString('utf8')
      if (id === undefined || !isKeyFile(name, k.type, id)) {
        throw new VaultError('CORRUPT_DATA', `Key file ${join(dir, name)} has no matching ${k.idFile} (its id is unknown). Restore both from a backup or delete the file.`)
      }
      out.push([k.type, id, name])
    }
    return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
  }

  const hasData = (dir: string): boolean => {
    if (exists(join(dir, CREDS_FILE))) return true
    try {
      return keyFiles(dir).length > 0
    } catch {
      return true // a damaged key file is still data
    }
  }

  const recoverAll = async () => {
    await readyDir(root)
    const folders = readdirSync(root, { withFileTypes: true }).filter(e => e.isDirectory() && parseSessionFolder(e.name)).map(e => join(root, e.name))
    for (let i = 0; i < folders.length; i += 8) await Promise.all(folders.slice(i, i + 8).map(readyDir))
  }
  if (rootStat) await recoverAll()

  return {
    kind: 'file',
    capabilities: { bareJson: true, snapshot: false },
    lease: leases.lease,

    async getCreds(session) {
      const p = place(session)
      await readyDir(p.dir)
      return readMaybe(join(p.dir, CREDS_FILE))
    },

    async get(session, type, ids) {
      const p = place(session)
      const names = ids.map(id => keyFile(type, id).file)
      await readyDir(p.dir)
      // Read in one synchronous step: a get never sees half of a batch applied in this process.
      const out = new Map<string, Uint8Array>()
      names.forEach((name, i) => {
        const value = readMaybe(join(p.dir, name))
        if (value) out.set(ids[i], value)
      })
      return out
    },

    async write(session, batch) {
      const p = place(session)
      const ops = planBatch(batch)
      await readyDir(p.dir)
      const run = () => commit(p, ops)
      const epoch = batch.epoch
      await track(serialise(p.dir, epoch === undefined ? run : () => leases.fenced(session, epoch, run)))
    },

    async *list(session, type?: string, options: ListOptions = {}): AsyncIterable<ListEntry> {
      const p = place(session)
      if (type !== undefined) assertFileType(type)
      await readyDir(p.dir)
      const files = keyFiles(p.dir, type)
      for (let i = 0; i < files.length; i += PAGE) {
        const page = files.slice(i, i + PAGE).map(([t, id, name]): ListEntry | undefined => {
          if (!options.values) return [t, id]
          const value = readMaybe(join(p.dir, name))
          return value && [t, id, value]
        })
        for (const entry of page) if (entry) yield entry
      }
    },

    async *sessions() {
      let entries
      try {
        entries = readdirSync(root, { withFileTypes: true })
      } catch (err) {
        if (isMissing(err)) return
        throw err
      }
      await readyDir(root)
      if (hasData(root)) yield DEFAULT_SESSION
      const folders = entries.filter(e => e.isDirectory()).map(e => e.name).sort()
      for (const name of folders) {
        const parsed = parseSessionFolder(name)
        if (!parsed) continue
        const session = 'session' in parsed ? parsed.session : sidecarSession(name)
        if (session === undefined) continue
        const dir = join(root, name)
        await readyDir(dir)
        if (hasData(dir)) yield session
      }
    },

    async drop(session) {
      const p = place(session)
      await readyDir(p.dir)
      await track(
        serialise(p.dir, async () => {
          if (p.folder === undefined) {
            // The root is also the parent of other sessions: delete its own files as one batch.
            if (!exists(root)) return
            const ops = new Map<string, Uint8Array | null>([[CREDS_FILE, null]])
            for (const [type, id] of keyFiles(root)) for (const [k, v] of planBatch({ set: [], del: [[type, id]] })) ops.set(k, v)
            return commit(p, ops)
          }
          if (!exists(p.dir)) return
          const trash = join(root, uniqueName(TRASH_PREFIX))
          renameSync(p.dir, trash) // atomic: the session is whole or gone
          knownFolders.delete(p.dir)
          await syncDir(root, sync)
          rmSync(trash, { recursive: true, force: true }) // if this fails, the next open removes it
        })
      )
    },

    async close() {
      await Promise.allSettled([...pending])
    }
  }
}
