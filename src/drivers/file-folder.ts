import { sep } from 'node:path'
import { recoverDir } from './file-io.js'
import { FolderLog, type LoggedWrite } from './file-log.js'

/**
 * One session folder of a file: store, as this process knows it: its write turn, its commit
 * log (file-log.ts: the index of committed writes, the checkpoint timer, the flushes in flight),
 * its recovery and whether it is known to exist. Every write, checkpoint, drop and rename of
 * the folder runs in its turn, one at a time; readers never wait for it.
 */
export class Folder {
  /** Whether the folder is known to exist (created or seen by a write); cleared on drop, rename or a failed write. */
  knownToExist = false
  /** The folder's commit log; its timed checkpoints run in the folder's turn. */
  readonly log: FolderLog
  /** The tail of the turn: resolves when the last task queued so far is done (never rejects). */
  private turnTail: Promise<void> = Promise.resolve()

  constructor(readonly dir: string) {
    this.log = new FolderLog(dir, task => this.inTurn(task))
  }

  /** Waits for the folder's turn (callers queue in call order); call the returned `release` when done. */
  async takeTurn(): Promise<() => void> {
    let release!: () => void
    const mine = new Promise<void>(resolve => (release = resolve))
    const before = this.turnTail
    this.turnTail = before.then(() => mine)
    await before
    return release
  }

  /** Runs `task` in the folder's turn. */
  async inTurn<T>(task: () => Promise<T>): Promise<T> {
    const release = await this.takeTurn()
    try {
      return await task()
    } finally {
      release()
    }
  }

  /**
   * Brings the folder to a batch boundary, in its turn: a journal of an earlier version
   * replayed, stray temp files removed, logs left by another process or run replayed.
   */
  recover(sync: boolean): Promise<void> {
    return this.inTurn(async () => {
      await recoverDir(this.dir, sync)
      await this.log.replay(sync)
    })
  }
}

/** Where a session lives: its folder; `name` is the sub-folder's name, undefined for the root (session `default`). */
export interface Place {
  session: string
  folder: Folder
  name?: string
  hashed?: boolean
}

/** Runs `task` holding the turn of every folder given, taken in path order (so two callers never wait on each other). */
export async function inTurns<T>(folders: readonly Folder[], task: () => Promise<T>): Promise<T> {
  const sorted = [...new Set(folders)].sort((a, b) => (a.dir < b.dir ? -1 : a.dir > b.dir ? 1 : 0))
  const releases: Array<() => void> = []
  try {
    for (const folder of sorted) releases.push(await folder.takeTurn())
    return await task()
  } finally {
    for (const release of releases.reverse()) release()
  }
}

/**
 * The registry: absolute folder path → its Folder, for the whole process. Module-wide on
 * purpose: two driver instances on one folder (a store opened twice, a tool beside the runtime)
 * must share one turn and one log, or their appends and checkpoints would interleave and a
 * checkpoint could land an older value last. Entries are never removed (a few hundred bytes
 * per folder the process touched), so no caller can ever hold a second Folder for a path.
 */
const folders = new Map<string, Folder>()

/** The Folder of an absolute path (created on first use). */
export function folderAt(dir: string): Folder {
  let folder = folders.get(dir)
  if (!folder) {
    folder = new Folder(dir)
    folders.set(dir, folder)
  }
  return folder
}

/** The folders at `root` or under it with records not yet checkpointed (close checkpoints them). */
export const unfinishedFoldersUnder = (root: string): Folder[] =>
  [...folders.values()].filter(f => (f.dir === root || f.dir.startsWith(root + sep)) && f.log.unfinished)

/** What this process committed to a folder and has not written in place yet (tests look at it). */
export const loggedWrites = (dir: string): ReadonlyMap<string, LoggedWrite> | undefined => folders.get(dir)?.log.writes
