import { readdirSync, renameSync, rmSync, statSync, unlinkSync, type Dirent } from 'node:fs'
import { join, resolve, sep } from 'node:path'
import type { Driver, ListEntry, ListOptions, WriteBatch } from '../core/driver.js'
import { VaultError, invalidArgument, renameTargetTaken } from '../core/errors.js'
import {
  JOURNAL,
  TRASH_PREFIX,
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
  writeTemps
} from './file-io.js'
import {
  checkpoint,
  flushesSettled,
  forgetLog,
  hasLog,
  loggedFolders,
  loggedWrites,
  loggedWritesOnDisk,
  replayLogs,
  setCheckpointQueue,
  type LoggedWrite
} from './file-log.js'
import { commitPlanned, type CommitHooks, type PlannedBatch } from './file-commit.js'
import { GroupCommit, type GroupedBatch } from './group-commit.js'
import {
  CREDS_FILE,
  DEFAULT_SESSION,
  SESSION_SIDECAR,
  assertFileType,
  isKeyFile,
  isSessionFolder,
  isVaultName,
  keyFile,
  parseKeyFile,
  parseSessionFolder,
  sessionFolder
} from './file-names.js'
import { TYPES_FILE, encodeTypes, isBaileysType, isOwnType, recordedTypes } from './file-types.js'
import { fileLease } from './file-lease.js'
import { statChangedSince } from './file-changes.js'
import { READ_AHEAD_MIN_FILES, readAhead } from './file-read-ahead.js'
import { companionOwner, readWithBackup } from './file-companions.js'

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
 * instances); readers never wait: they see a batch once its log record is durable, whole.
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

/** Runs `task` holding the turn of every folder in `dirs` (sorted, so two callers never wait on each other). */
function serialiseAll<T>(dirs: readonly string[], task: () => Promise<T>): Promise<T> {
  const sorted = [...new Set(dirs)].sort()
  const step = (k: number): Promise<T> => (k === sorted.length ? task() : serialise(sorted[k], () => step(k + 1)))
  return step(0)
}

// A folder's log checkpoint waits for the folder's turn: no write of it is half done meanwhile.
setCheckpointQueue(serialise)

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
  const readOnly = options.readOnly === true
  const assertWritable = (action: string) => {
    if (readOnly) throw invalidArgument(`The file: store ${root} was opened read-only; cannot ${action}. Open it without readOnly to change it.`)
  }
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

  /** Committed writes of a folder not yet in its files: this process's index, or (read-only) the logs on disk. */
  const logged = (dir: string): ReadonlyMap<string, LoggedWrite> | undefined => (readOnly ? loggedWritesOnDisk(dir) : loggedWrites(dir))

  /** A file's committed bytes: the log's newest write of it, else the file (undefined: none). */
  const readValue = (dir: string, name: string, index = logged(dir)): Buffer | undefined => {
    const write = index?.get(name)
    if (!write) return readMaybe(join(dir, name))
    return write.value === null ? undefined : Buffer.from(write.value) // a copy: the index keeps its bytes
  }

  /**
   * The committed creds: the log's newest, else creds.json, else (missing or unreadable, as
   * Baileys' next version reads it) creds.json.bak; `fromBackup` names the .bak used.
   */
  const readCreds = (dir: string): { bytes?: Uint8Array; fromBackup?: string } => {
    const write = logged(dir)?.get(CREDS_FILE)
    if (write) return { bytes: write.value === null ? undefined : Buffer.from(write.value) }
    return readWithBackup(dir, CREDS_FILE)
  }

  /** Recovery of a folder, once per driver instance (again after a failed commit). */
  const readyDir = async (dir: string): Promise<void> => {
    if (readOnly) return // a journal is reported (unfinishedBatch), never replayed or discarded
    let done = recovered.get(dir)
    if (!done) {
      done = serialise(dir, async () => {
        await recoverDir(dir, sync) // a journal left by an earlier version, stray temp files
        await replayLogs(dir, sync)
      })
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

  /**
   * Records custom key types before their first file lands. A type whose names are already
   * taken by files in the folder is refused: those files are not ours to overwrite.
   */
  const recordTypes = async (dir: string, types: ReadonlySet<string>): Promise<void> => {
    const recorded = recordedTypes(dir)
    const fresh = [...types].filter(t => !isOwnType(t, recorded))
    if (fresh.length === 0) return
    const taken = entries(dir).filter(e => fresh.includes(parseKeyFile(e.name)?.type as string))
    if (taken.length > 0) {
      throw invalidArgument(
        `Folder ${dir} already holds ${taken
          .map(e => e.name)
          .slice(0, 3)
          .join(
            ', '
          )}, named like keys of type "${parseKeyFile(taken[0].name)!.type}" that baileys-vault did not write. Nothing was written; use another key type, or move those files away.`
      )
    }
    await replaceFile(dir, TYPES_FILE, encodeTypes([...recorded, ...fresh]))
  }

  const hooks: CommitHooks = { sync }

  /** Commits planned batches in one folder's turn; throws the batch's error. */
  const commitOne = async (planned: PlannedBatch): Promise<void> => {
    const [outcome] = await commitPlanned([planned], hooks)
    if (outcome !== undefined) throw outcome
  }

  /**
   * One group of batches (GroupCommit): split into rounds where a session repeats (one lease
   * lock per session and round), each round committed together. Outcomes per batch.
   */
  const applyGroup = async (group: readonly GroupedBatch[]): Promise<unknown[]> => {
    const outcomes: unknown[] = group.map(() => undefined)
    const rounds: number[][] = [[]]
    const seen = new Set<string>()
    group.forEach(({ session }, i) => {
      if (seen.has(session)) {
        rounds.push([])
        seen.clear()
      }
      seen.add(session)
      rounds[rounds.length - 1].push(i)
    })
    for (const round of rounds) {
      await commitRound(group, round, outcomes)
      // A folder removed under us (not by this store): nothing of it was committed; create it again, retry once.
      const vanished = round.filter(i => isMissing(outcomes[i]))
      if (vanished.length === 0) continue
      for (const i of vanished) outcomes[i] = undefined
      await commitRound(group, vanished, outcomes)
    }
    return outcomes
  }

  const commitRound = async (group: readonly GroupedBatch[], round: number[], outcomes: unknown[]): Promise<void> => {
    const places = new Map(round.map(i => [i, place(group[i].session)]))
    // Fenced batches hold their session's lease lock from the epoch check through the log flush.
    const fenced = round.filter(i => group[i].batch.epoch !== undefined).sort((a, b) => (group[a].session < group[b].session ? -1 : 1))
    const withFences = async (k: number): Promise<void> => {
      if (k === fenced.length) return commitChecked()
      const { session, batch } = group[fenced[k]]
      let entered = false
      try {
        await leases.fenced(session, batch.epoch!, () => {
          entered = true
          return withFences(k + 1)
        })
      } catch (err) {
        if (entered) throw err
        outcomes[fenced[k]] = err // this batch alone is fenced out
        return withFences(k + 1)
      }
    }
    const commitChecked = async (): Promise<void> => {
      const planned: Array<{ i: number; batch: PlannedBatch }> = []
      for (const i of round) {
        if (outcomes[i] !== undefined) continue
        const p = places.get(i)!
        try {
          await ensureFolder(p)
          const { ops, newTypes } = planBatch(group[i].batch, p.dir)
          if (newTypes.size > 0) await recordTypes(p.dir, newTypes)
          planned.push({ i, batch: { dir: p.dir, ops } })
        } catch (err) {
          outcomes[i] = err
          knownFolders.delete(p.dir)
        }
      }
      const results = await commitPlanned(
        planned.map(x => x.batch),
        hooks
      )
      results.forEach((err, k) => {
        if (err === undefined) return
        outcomes[planned[k].i] = err
        knownFolders.delete(planned[k].batch.dir)
      })
    }
    try {
      await serialiseAll(
        [...places.values()].map(p => p.dir),
        () => withFences(0)
      )
    } catch (err) {
      // The group's log could not be made durable: nothing of this round committed.
      for (const i of round) if (outcomes[i] === undefined) outcomes[i] = err
      for (const p of places.values()) knownFolders.delete(p.dir)
    }
  }
  const groups = new GroupCommit({ applyGroup })

  /**
   * Target file → bytes (null: delete) for a batch; every name is checked before any I/O.
   * Deletes of types the folder does not own are dropped (such a file is not ours); `newTypes`
   * are the types the batch writes that the folder does not own yet (commit records them).
   * The folder's record is read only for a batch with a type Baileys does not have.
   */
  const planBatch = (batch: WriteBatch, dir: string) => {
    let recorded: ReadonlySet<string> | undefined
    const owns = (type: string) => isBaileysType(type) || (recorded ??= recordedTypes(dir)).has(type)
    const ops = new Map<string, Uint8Array | null>()
    const newTypes = new Set<string>()
    if (batch.creds) ops.set(CREDS_FILE, batch.creds)
    for (const [type, id, value] of batch.set) {
      const k = keyFile(type, id)
      ops.set(k.file, value)
      if (k.idFile) ops.set(k.idFile, Buffer.from(id, 'utf8'))
      if (!owns(type)) newTypes.add(type)
    }
    for (const [type, id] of batch.del) {
      const k = keyFile(type, id)
      if (!owns(type)) continue
      ops.set(k.file, null)
      if (k.idFile) ops.set(k.idFile, null)
    }
    return { ops, newTypes }
  }

  /** Entries of a folder (none when it does not exist). */
  const entries = (dir: string): Dirent[] => {
    try {
      return readdirSync(dir, { withFileTypes: true })
    } catch (err) {
      if (isMissing(err)) return []
      throw err
    }
  }

  /** Every key file of the store's own types in a folder as [type, id, file name], sorted by type then id. */
  const keyFiles = (dir: string, type?: string): Array<[string, string, string]> => {
    const index = logged(dir)
    const onDisk = entries(dir)
      .filter(e => e.isFile() || e.isSymbolicLink())
      .map(e => e.name)
    // Files as the committed writes leave them: logged writes added, logged deletes removed.
    const names = index ? [...new Set([...onDisk, ...index.keys()])].filter(name => index.get(name)?.value !== null) : onDisk
    const owned = names.length > 0 ? recordedTypes(dir) : new Set<string>()
    const out: Array<[string, string, string]> = []
    for (const name of names) {
      const k = parseKeyFile(name)
      if (!k || (type !== undefined && k.type !== type) || !isOwnType(k.type, owned)) continue
      if ('id' in k) {
        out.push([k.type, k.id, name])
        continue
      }
      const id = readValue(dir, k.idFile, index)?.toString('utf8')
      if (id === undefined || !isKeyFile(name, k.type, id)) {
        throw new VaultError(
          'CORRUPT_DATA',
          `Key file ${join(dir, name)} has no matching ${k.idFile} (its id is unknown). Restore both from a backup or delete the file.`
        )
      }
      out.push([k.type, id, name])
    }
    return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
  }

  /** Names in a folder the store does not own (sub-folders end in `/`; in the root, session folders are ours). */
  const foreignNames = (dir: string, isRoot: boolean): string[] => {
    const all = entries(dir)
    const owned = all.length > 0 ? recordedTypes(dir) : new Set<string>()
    const ours = new Set([CREDS_FILE])
    for (const [, , name] of keyFiles(dir)) {
      ours.add(name)
      const k = parseKeyFile(name)
      if (k && 'idFile' in k) ours.add(k.idFile)
    }
    return all
      .filter(e => {
        if (isVaultName(e.name)) return false
        if (e.isDirectory()) return !(isRoot && parseSessionFolder(e.name))
        if (ours.has(e.name)) return false
        if (isCompanion(e.name, owned)) return false
        const k = parseKeyFile(e.name) // an own-type key without its .id file is damaged data, not foreign
        return !(k && isOwnType(k.type, owned))
      })
      .map(e => (e.isDirectory() ? `${e.name}/` : e.name))
      .sort()
  }

  /** A Baileys .bak/.tmp of creds.json or of a key file of an own type (see file-companions.ts). */
  const isCompanion = (name: string, owned?: ReadonlySet<string>): boolean => {
    const owner = companionOwner(name)
    if (owner === undefined) return false
    if (owner === CREDS_FILE) return true
    const k = parseKeyFile(owner)
    return !!k && isOwnType(k.type, owned ?? new Set())
  }

  const hasData = (dir: string): boolean => {
    if (readValue(dir, CREDS_FILE) !== undefined || exists(join(dir, `${CREDS_FILE}.bak`))) return true
    try {
      return keyFiles(dir).length > 0
    } catch {
      return true // a damaged key file is still data
    }
  }

  const recoverAll = async () => {
    if (readOnly) return
    await readyDir(root)
    const folders = readdirSync(root, { withFileTypes: true })
      .filter(e => e.isDirectory() && parseSessionFolder(e.name))
      .map(e => join(root, e.name))
    for (let i = 0; i < folders.length; i += 8) await Promise.all(folders.slice(i, i + 8).map(readyDir))
  }
  if (rootStat) await recoverAll()

  /**
   * A sub-folder moves with one rename(2): atomic. The root folder (session `default`) holds
   * the other sessions and cannot move, and a hashed folder's id lives in a file inside it, so
   * those are written in place (creds last: an interruption leaves keys without creds, which
   * useAuthState refuses to open).
   */
  const canRename = (from: string, to: string): boolean => {
    const folders = [from, to].map(session => {
      try {
        return sessionFolder(session)
      } catch {
        return {}
      }
    })
    return folders.every(f => f.name !== undefined && !f.hashed)
  }

  return {
    kind: 'file',
    capabilities: { bareJson: true, snapshot: false, rename: true },
    canRename,
    lease: leases.lease,

    async getCreds(session) {
      const p = place(session)
      await readyDir(p.dir)
      return readCreds(p.dir).bytes
    },

    async credsFromBackup(session) {
      const p = place(session)
      await readyDir(p.dir)
      return readCreds(p.dir).fromBackup
    },

    async get(session, type, ids) {
      const p = place(session)
      const names = ids.map(id => keyFile(type, id).file)
      await readyDir(p.dir)
      if (!isBaileysType(type) && !recordedTypes(p.dir).has(type)) return new Map() // such files are not keys
      // Read in one synchronous step: a get never sees half of a batch applied in this process.
      const out = new Map<string, Uint8Array>()
      const index = logged(p.dir)
      names.forEach((name, i) => {
        const value = readValue(p.dir, name, index)
        if (value) out.set(ids[i], value)
      })
      return out
    },

    async write(session, batch) {
      assertWritable('write')
      await readyDir(place(session).dir)
      if (options.groupCommit !== false) return track(groups.write(session, batch))
      // A group of one, in its folder's turn: one log flush per write, independent of other folders.
      const [outcome] = await track(applyGroup([{ session, batch }]))
      if (outcome !== undefined) throw outcome
    },

    async *list(session, type?: string, options: ListOptions = {}): AsyncIterable<ListEntry> {
      const p = place(session)
      if (type !== undefined) assertFileType(type)
      await readyDir(p.dir)
      const files = keyFiles(p.dir, type)
      if (options.values && type === undefined && files.length >= READ_AHEAD_MIN_FILES && !logged(p.dir)?.size) {
        // A whole large session (the tools: migrate, backup): its files are read on a worker
        // thread, pages ahead of the consumer. A listing of one type (a bot's prefetch) stays here.
        let i = 0
        for await (const values of readAhead(
          p.dir,
          files.map(([, , name]) => name)
        )) {
          // The log index is the truth for a file written since the listing began (this process's writes).
          const index = logged(p.dir)
          for (const read of values) {
            const [t, id, name] = files[i++]
            const value = index?.has(name) ? readValue(p.dir, name, index) : read
            if (value) yield [t, id, value]
          }
        }
        return
      }
      for (let i = 0; i < files.length; i += PAGE) {
        const page = files.slice(i, i + PAGE).map(([t, id, name]): ListEntry | undefined => {
          if (!options.values) return [t, id]
          const value = readValue(p.dir, name)
          return value && [t, id, value]
        })
        for (const entry of page) if (entry) yield entry
      }
    },

    async *keysChangedSince(session, since) {
      const p = place(session)
      await readyDir(p.dir)
      // A name added, removed or replaced by a rename (this store's own writes) changes the folder;
      // an in-place rewrite (Baileys' writeFile) changes only the file, hence one stat per key.
      // A key with a logged write not yet in place changed since the last checkpoint: reported changed.
      const renamed = statChangedSince(p.dir, since)
      if (renamed === undefined) return
      const index = logged(p.dir)
      for (const [type, id, name] of keyFiles(p.dir)) {
        const changed = renamed || index?.has(name) || statChangedSince(join(p.dir, name), since)
        if (changed !== undefined) yield [type, id, changed] // gone since the listing: no longer a key
      }
    },

    async *sessions() {
      if (!exists(root)) return
      const found = entries(root)
      await readyDir(root)
      if (hasData(root)) yield DEFAULT_SESSION
      const folders = found
        .filter(e => e.isDirectory())
        .map(e => e.name)
        .sort()
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
      assertWritable('drop a session')
      const p = place(session)
      await readyDir(p.dir)
      await groups.drain() // after the writes made before it
      await track(
        serialise(p.dir, async () => {
          if (!exists(p.dir)) return forgetLog(p.dir)
          if (p.folder === undefined || foreignNames(p.dir, false).length > 0) {
            // The root (parent of other sessions) or a folder holding foreign files: delete only
            // our own files, as one batch, and leave the folder.
            const { ops } = planBatch({ set: [], del: keyFiles(p.dir).map(([type, id]) => [type, id]) }, p.dir)
            ops.set(CREDS_FILE, null)
            // A Baileys .bak/.tmp whose file is gone still belongs to the session: deleting its owner removes it.
            const owned = recordedTypes(p.dir)
            for (const e of entries(p.dir)) if (isCompanion(e.name, owned)) ops.set(companionOwner(e.name)!, null)
            await commitOne({ dir: p.dir, ops })
            await checkpoint(p.dir, sync)
            if (exists(join(p.dir, TYPES_FILE))) {
              unlinkSync(join(p.dir, TYPES_FILE))
              await syncDir(p.dir, sync)
            }
            return
          }
          await flushesSettled(p.dir) // no checkpoint writes into the folder once it is gone
          const trash = join(root, uniqueName(TRASH_PREFIX))
          renameSync(p.dir, trash) // atomic: the session is whole or gone
          knownFolders.delete(p.dir)
          forgetLog(p.dir) // its log went with the folder
          await syncDir(root, sync)
          rmSync(trash, { recursive: true, force: true }) // if this fails, the next open removes it
        })
      )
    },

    async *ignoredFiles(session) {
      const p = place(session)
      const prefix = p.folder === undefined ? '' : `${p.folder}/`
      for (const name of foreignNames(p.dir, p.folder === undefined)) yield prefix + name
    },

    async unfinishedBatch(session) {
      // Read-write opens replay journals; one present then belongs to a write in flight.
      const dir = place(session).dir
      return readOnly && (exists(join(dir, JOURNAL)) || hasLog(dir))
    },

    async rename(from, to) {
      assertWritable('rename a session')
      if (!canRename(from, to))
        throw invalidArgument(
          `The file: store cannot move session "${from}" to "${to}" in one step: the root folder (session "default") and hashed folder names stay in place.`
        )
      const a = place(from)
      const b = place(to)
      await readyDir(a.dir)
      await readyDir(b.dir)
      await groups.drain()
      await track(
        serialiseAll([a.dir, b.dir], async () => {
          if (exists(b.dir) && hasData(b.dir)) throw renameTargetTaken(to)
          // The logs are folded into the files first: a log belongs to its folder's path in this process.
          await checkpoint(a.dir, sync)
          await checkpoint(b.dir, sync)
          if (!exists(a.dir)) return
          renameSync(a.dir, b.dir) // atomic; fails (ENOTEMPTY) rather than replace a folder holding other files
          knownFolders.delete(a.dir)
          knownFolders.delete(b.dir)
          forgetLog(a.dir)
          forgetLog(b.dir)
          await syncDir(root, sync)
        })
      )
    },

    async close() {
      await groups.drain()
      await Promise.allSettled([...pending])
      if (readOnly) return
      // Fold this root's logs into the files: a closed store leaves plain Baileys folders.
      const mine = loggedFolders().filter(dir => dir === root || dir.startsWith(root + sep))
      await Promise.allSettled(mine.map(dir => serialise(dir, () => checkpoint(dir, sync))))
    }
  }
}
