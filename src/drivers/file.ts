import { readdirSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Driver, ListEntry, ListOptions, WriteBatch } from '../core/driver.js'
import { must } from '../core/defined.js'
import { VaultError, invalidArgument } from '../core/errors.js'
import { JOURNAL, exists, isMissing } from './file-io.js'
import { folderAt, inTurns, unfinishedFoldersUnder, type Folder, type Place } from './file-folder.js'
import { LogsOnDisk, hasLog } from './file-log.js'
import { FileGroupCommit } from './file-commit.js'
import { canRename, dropFolder, moveFolder, type FolderMoveOptions } from './file-move.js'
import { READ_AHEAD_MIN_FILES, changedAhead, readAhead, readAheadStats } from './file-read-ahead.js'
import { entries, foreignNames, hasData, keyFiles, readCreds, readValue, sidecarSession, type FolderView } from './file-read.js'
import { GroupCommit } from './group-commit.js'
import { DEFAULT_SESSION, assertFileType, keyFile, parseSessionFolder, sessionFolder } from './file-names.js'
import { isBaileysType, recordedTypes } from './file-types.js'
import { fileLease } from './file-lease.js'
import { statChangedSince } from './file-changes.js'

/**
 * Baileys' multi-file layout, made crash-safe. A folder written by Baileys'
 * useMultiFileAuthState opens in place (session `default`), and Baileys still opens a folder
 * this driver wrote: same file names (`creds.json`, `${type}-${id}.json`), same BufferJSON
 * text (the driver declares `bareJson`, so the store writes no envelope byte). Other sessions
 * are sub-folders of the root, each itself a Baileys folder. Naming rules: see file-names.ts.
 *
 * Durability (`durability: 'full'`, the default): a write resolves once its batch is one record
 * of the folder's commit log (file-log.ts: the values themselves, fdatasync'd; a new log's
 * folder fsync'd), so an acknowledged write survives a crash of the process, the OS or the
 * power. Writes of many sessions that arrive together share one flush (group commit,
 * file-commit.ts: one fdatasync per folder per group, in parallel on the thread pool). The
 * files are not written then: reads of this store are served from the log's in-memory index,
 * and a checkpoint (a second after a folder's first unflushed write, when its log reaches
 * 4 MiB, and on drop, rename and close) writes each file changed since the last one, once
 * however often it was rewritten, off the event loop (temp file, fdatasync, rename), fsyncs
 * the folder, and removes the logs. A closed store leaves plain Baileys folders.
 *
 * What a reader of the folder that is not this store sees while the store is open (Baileys'
 * useMultiFileAuthState, cp; a second writer is forbidden by leases anyway): the files as of
 * the last checkpoint, up to ~1 s old, and while a checkpoint runs, some files of the next one
 * (a mix of batches). A read-only open of this store reads the logs too, so it sees every
 * acknowledged write. After a crash (process, OS or power), the same until a read-write open
 * replays the logs (a torn last record discarded: it was never acknowledged) and removes stray
 * temp files; a read-only open reports such a folder (`unfinishedBatch`, `doctor`).
 * `durability: 'process'` keeps the log protocol but skips the fsyncs: a process crash loses
 * nothing, a power loss may lose the last writes.
 * Folders it creates get mode 0700; an existing folder's mode is left as it is.
 *
 * Foreign files: the store lists, rewrites or deletes only creds.json and key files of Baileys
 * 7's ten key types, or of a type it recorded writing in that folder (`.vault-types`, written
 * atomically before the first file of a new type lands; see file-types.ts). Anything else in
 * the folder (package-lock.json, app-settings.json, notes) is never touched, not even by drop;
 * `ignoredFiles` names it. Writing a new type whose names are already taken by foreign files
 * is refused. Dropping a sub-folder session removes the folder only when nothing foreign is in it.
 * The one exception: the `<file>.tmp`/`<file>.bak` that Baileys' next useMultiFileAuthState keeps
 * beside creds.json and key files belong to that file (file-companions.ts): never listed, and
 * removed when the store rewrites or deletes the file, since a kept `.bak` would bring a stale
 * value back into Baileys. creds.json missing or unreadable with a readable creds.json.bak is
 * read from the `.bak` as Baileys reads it (`credsFromBackup`, a doctor finding); the next save
 * writes creds.json. Only creds fall back: a key file's lone `.bak` is not read, as Baileys'
 * own listing does not list it either.
 *
 * Read-only (`readOnly: true`): no folder is created, no journal replayed or discarded, no
 * stray temp file removed, nothing written; writes and drop throw INVALID_ARGUMENT. A folder
 * with a commit log not yet checkpointed (or a journal of an earlier version) is reported by
 * `unfinishedBatch`; its reads decode the logs (never changing them), so they see every
 * complete record.
 *
 * Concurrency: writes to one session folder are serialised in this process (across driver
 * instances: one Folder per path, file-folder.ts, owns the folder's turn and log); readers
 * never wait: they see a batch once its log record is durable, whole.
 * A fenced write (lease epoch) holds its session's lease lock from the epoch check through its
 * log flush: one lock per batch and group, never one per key file; a batch fenced out fails alone.
 * Two processes must not write the same session at once (use a lease, file-lease.ts): a
 * second process would see, and could replay, the first one's journal.
 */
export interface FileDriverOptions {
  /** The root folder: a Baileys auth folder (session `default`) holding one sub-folder per other session. */
  path: string
  /** 'full' (default): fsync files and folders. 'process': no fsync; atomic, survives a process crash only. */
  durability?: 'full' | 'process'
  /** Never write, create, replay or remove anything (ls, inspect, doctor, backup, verify). */
  readOnly?: boolean
  /**
   * true (default): the batches of all sessions that arrive together are one group (every
   * folder's log flushed at once, one group at a time): lower write latency (p50 and p99) under
   * many sessions. false: each folder's log is flushed on its own (see docs/performance.md).
   */
  groupCommit?: boolean
}

const PAGE = 64

export async function createFileDriver(options: FileDriverOptions): Promise<Driver> {
  if (!options || typeof options.path !== 'string' || options.path.length === 0) {
    throw invalidArgument('The file: store needs a folder, e.g. file:./auth_info_baileys.')
  }
  const root = resolve(options.path)
  let rootStat
  try {
    rootStat = statSync(root)
  } catch (err) {
    if (!isMissing(err)) throw new VaultError('BACKEND_UNAVAILABLE', `Cannot open the file: store folder ${root}: ${(err as Error).message}`, { cause: err })
  }
  if (rootStat && !rootStat.isDirectory()) throw invalidArgument(`${root} is not a folder; give file: the folder of a Baileys auth state.`)
  const d = new FileDriver({ root, sync: options.durability !== 'process', readOnly: options.readOnly === true, groupCommit: options.groupCommit !== false })
  if (rootStat) await d.recoverAll()
  // A plain object (drivers are wrapped by spreading them), each method calling the instance.
  return {
    kind: 'file',
    capabilities: { bareJson: true, snapshot: false, rename: true },
    canRename,
    lease: d.leases.lease,
    getCreds: session => d.getCreds(session),
    credsFromBackup: session => d.credsFromBackup(session),
    get: (session, type, ids) => d.get(session, type, ids),
    write: (session, batch) => d.write(session, batch),
    list: (session, type, listOptions) => d.list(session, type, listOptions),
    keysChangedSince: (session, since) => d.keysChangedSince(session, since),
    sessions: () => d.sessions(),
    drop: session => d.drop(session),
    ignoredFiles: session => d.ignoredFiles(session),
    unfinishedBatch: session => d.unfinishedBatch(session),
    rename: (from, to) => d.rename(from, to),
    close: () => d.close()
  }
}

/** One open file: store: sessions mapped to their folders (file-folder.ts), and the Driver's methods. */
class FileDriver {
  readonly leases: ReturnType<typeof fileLease>
  private readonly root: string
  private readonly sync: boolean
  private readonly readOnly: boolean
  private readonly groupCommit: boolean
  /** Folders brought to a batch boundary by this driver instance (again after a failed recovery). */
  private readonly recovered = new Map<Folder, Promise<void>>()
  /** Writes, drops and renames in flight (close waits for them). */
  private readonly pending = new Set<Promise<unknown>>()
  /** A read-only open's decoded logs (a read-write open reads its own index instead). */
  private readonly logsOnDisk = new LogsOnDisk()
  private readonly commits: FileGroupCommit
  private readonly groups: GroupCommit
  private readonly moves: FolderMoveOptions
  /**
   * The key files of the last whole large session listed to its end with values (migrate's copy),
   * and when that listing began: keysChangedSince (migrate's verification) takes it instead of
   * listing the folder again while the folder's names have not changed since. Taken once.
   */
  private lastBulkListing?: { dir: string; at: number; files: Array<[string, string, string]> }

  constructor(options: { root: string; sync: boolean; readOnly: boolean; groupCommit: boolean }) {
    this.root = options.root
    this.sync = options.sync
    this.readOnly = options.readOnly
    this.groupCommit = options.groupCommit
    this.leases = fileLease(this.root, this.sync)
    this.commits = new FileGroupCommit({ sync: this.sync, leases: this.leases, place: session => this.place(session) })
    this.groups = new GroupCommit({ applyGroup: this.commits.applyGroup })
    this.moves = { root: this.root, sync: this.sync, view: dir => this.view(dir) }
  }

  async getCreds(session: string): Promise<Uint8Array | undefined> {
    return readCreds(await this.readyView(session)).bytes
  }

  async credsFromBackup(session: string): Promise<string | undefined> {
    return readCreds(await this.readyView(session)).fromBackup
  }

  async get(session: string, type: string, ids: readonly string[]): Promise<Map<string, Uint8Array>> {
    const files = ids.map(id => ({ id, name: keyFile(type, id).file }))
    const view = await this.readyView(session)
    if (!isBaileysType(type) && !recordedTypes(view.dir).has(type)) return new Map() // such files are not keys
    // Read in one synchronous step: a get never sees half of a batch applied in this process.
    const out = new Map<string, Uint8Array>()
    const index = view.logged()
    for (const { id, name } of files) {
      const value = readValue(view, name, index)
      if (value) out.set(id, value)
    }
    return out
  }

  async write(session: string, batch: WriteBatch): Promise<void> {
    this.assertWritable('write')
    await this.ready(this.place(session).folder)
    if (this.groupCommit) return this.track(this.groups.write(session, batch))
    // A group of one, in its folder's turn: one log flush per write, independent of other folders.
    const [outcome] = await this.track(this.commits.applyGroup([{ session, batch }]))
    if (outcome !== undefined) throw outcome
  }

  async *list(session: string, type?: string, options: ListOptions = {}): AsyncIterable<ListEntry> {
    const { folder } = this.place(session)
    if (type !== undefined) assertFileType(type)
    await this.ready(folder)
    const view = this.view(folder.dir)
    const at = Date.now()
    const files = keyFiles(view, type)
    if (options.values && type === undefined && files.length >= READ_AHEAD_MIN_FILES && !view.logged()?.size) {
      // A whole large session (the tools: migrate, backup): its files are read on a worker
      // thread, pages ahead of the consumer. A listing of one type (a bot's prefetch) stays here.
      let i = 0
      for await (const values of readAhead({ dir: view.dir, names: files.map(([, , name]) => name), parseJson: options.checkJson })) {
        // The log index is the truth for a file written since the listing began (this process's writes).
        const index = view.logged()
        for (const read of values) {
          const [t, id, name] = must(files[i++], 'readAhead yields one value per file it was given')
          const value = index?.has(name) ? readValue(view, name, index) : read
          if (value) yield [t, id, value]
        }
      }
      this.lastBulkListing = { dir: view.dir, at, files }
      return
    }
    for (let i = 0; i < files.length; i += PAGE) {
      const page = files.slice(i, i + PAGE).map(([t, id, name]): ListEntry | undefined => {
        if (!options.values) return [t, id]
        const value = readValue(view, name)
        return value && [t, id, value]
      })
      for (const entry of page) if (entry) yield entry
    }
  }

  async *keysChangedSince(session: string, since: number): AsyncIterable<[type: string, id: string, changed: boolean]> {
    const view = await this.readyView(session)
    // A name added, removed or replaced by a rename (this store's own writes) changes the folder;
    // an in-place rewrite (Baileys' writeFile) changes only the file, hence one stat per key.
    // A key with a logged write not yet in place changed since the last checkpoint: reported changed.
    const renamed = statChangedSince(view.dir, since)
    if (renamed === undefined) return
    const index = view.logged()
    const files = (!renamed && this.bulkListingSince(view.dir, since, index)) || keyFiles(view)
    if (!renamed && files.length >= READ_AHEAD_MIN_FILES) {
      // A large session (migrate's verification): the stats run on a worker thread, pages ahead.
      let i = 0
      for await (const flags of changedAhead(
        view.dir,
        files.map(([, , name]) => name),
        since
      )) {
        for (const statted of flags) {
          const [type, id, name] = must(files[i++], 'one flag per listed file, in order')
          const changed = index?.has(name) || statted
          if (changed !== undefined) yield [type, id, changed] // gone since the listing: no longer a key
        }
      }
      return
    }
    for (const [type, id, name] of files) {
      const changed = renamed || index?.has(name) || statChangedSince(join(view.dir, name), since)
      if (changed !== undefined) yield [type, id, changed] // gone since the listing: no longer a key
    }
  }

  /**
   * The last bulk listing of `dir` (see lastBulkListing) when it is the folder's key files now: it
   * began at or after `since`, the caller found the folder's names unchanged since then (no file
   * added, removed or renamed: the folder's own timestamps), and no logged write lies over them.
   */
  private bulkListingSince(dir: string, since: number, index: ReadonlyMap<string, unknown> | undefined): Array<[string, string, string]> | undefined {
    const listing = this.lastBulkListing
    this.lastBulkListing = undefined
    if (!listing || listing.dir !== dir || listing.at < since || index?.size) return undefined
    readAheadStats.listingsReused++
    return listing.files
  }

  async *sessions(): AsyncIterable<string> {
    const root = this.root
    if (!exists(root)) return
    const found = entries(root)
    await this.ready(folderAt(root))
    if (hasData(this.view(root))) yield DEFAULT_SESSION
    const names = found
      .filter(e => e.isDirectory())
      .map(e => e.name)
      .sort()
    for (const name of names) {
      const parsed = parseSessionFolder(name)
      if (!parsed) continue
      const session = 'session' in parsed ? parsed.session : sidecarSession(root, name)
      if (session === undefined) continue
      const dir = join(root, name)
      await this.ready(folderAt(dir))
      if (hasData(this.view(dir))) yield session
    }
  }

  async drop(session: string): Promise<void> {
    this.assertWritable('drop a session')
    const p = this.place(session)
    await this.ready(p.folder)
    await this.groups.drain() // after the writes made before it
    await this.track(p.folder.inTurn(() => dropFolder(p, this.moves)))
  }

  async *ignoredFiles(session: string): AsyncIterable<string> {
    const p = this.place(session)
    const prefix = p.name === undefined ? '' : `${p.name}/`
    for (const name of foreignNames(this.view(p.folder.dir), p.name === undefined)) yield prefix + name
  }

  async unfinishedBatch(session: string): Promise<boolean> {
    // Read-write opens replay journals; one present then belongs to a write in flight.
    const dir = this.place(session).folder.dir
    return this.readOnly && (exists(join(dir, JOURNAL)) || hasLog(dir))
  }

  async rename(from: string, to: string): Promise<void> {
    this.assertWritable('rename a session')
    if (!canRename(from, to))
      throw invalidArgument(
        `The file: store cannot move session "${from}" to "${to}" in one step: the root folder (session "default") and hashed folder names stay in place.`
      )
    const a = this.place(from).folder
    const b = this.place(to).folder
    await this.ready(a)
    await this.ready(b)
    await this.groups.drain()
    await this.track(inTurns([a, b], () => moveFolder({ from: a, to: b, toSession: to }, this.moves)))
  }

  async close(): Promise<void> {
    await this.groups.drain()
    await Promise.allSettled([...this.pending])
    if (this.readOnly) return
    // Fold this root's logs into the files: a closed store leaves plain Baileys folders.
    await Promise.allSettled(unfinishedFoldersUnder(this.root).map(folder => folder.inTurn(() => folder.log.checkpoint(this.sync))))
  }

  /** Recovers the root and every session folder in it (8 at a time). */
  async recoverAll(): Promise<void> {
    if (this.readOnly) return
    await this.ready(folderAt(this.root))
    const dirs = readdirSync(this.root, { withFileTypes: true })
      .filter(e => e.isDirectory() && parseSessionFolder(e.name))
      .map(e => join(this.root, e.name))
    for (let i = 0; i < dirs.length; i += 8) await Promise.all(dirs.slice(i, i + 8).map(dir => this.ready(folderAt(dir))))
  }

  /** Where a session lives: the root (session `default`) or its sub-folder. */
  private place(session: string): Place {
    const f = sessionFolder(session)
    if (f.name === undefined) return { session, folder: folderAt(this.root) }
    return { session, folder: folderAt(join(this.root, f.name)), name: f.name, hashed: f.hashed }
  }

  /** A folder as this store reads it: its files, with the committed writes not yet in them. */
  private view(dir: string): FolderView {
    return { dir, logged: () => (this.readOnly ? this.logsOnDisk.read(dir) : folderAt(dir).log.writes) }
  }

  /** The session's folder, recovered, as this store reads it. */
  private async readyView(session: string): Promise<FolderView> {
    const { folder } = this.place(session)
    await this.ready(folder)
    return this.view(folder.dir)
  }

  /** Recovery of a folder, once per driver instance (again after a failed one). */
  private async ready(folder: Folder): Promise<void> {
    if (this.readOnly) return // a journal is reported (unfinishedBatch), never replayed or discarded
    let done = this.recovered.get(folder)
    if (!done) {
      done = folder.recover(this.sync)
      this.recovered.set(folder, done)
      done.catch(() => this.recovered.delete(folder))
    }
    await done
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.pending.add(p)
    void p.then(
      () => this.pending.delete(p),
      () => this.pending.delete(p)
    )
    return p
  }

  private assertWritable(action: string): void {
    if (this.readOnly) throw invalidArgument(`The file: store ${this.root} was opened read-only; cannot ${action}. Open it without readOnly to change it.`)
  }
}
