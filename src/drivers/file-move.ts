import { renameSync, rmSync, unlinkSync } from 'node:fs'
import { join } from 'node:path'
import { renameTargetTaken } from '../core/errors.js'
import { TRASH_PREFIX, exists, syncDir, uniqueName } from './file-io.js'
import type { Folder, Place } from './file-folder.js'
import { commitPlanned } from './file-commit.js'
import { companionOwner } from './file-companions.js'
import { CREDS_FILE, sessionFolder } from './file-names.js'
import { planBatch } from './file-plan.js'
import { entries, foreignNames, hasData, isCompanion, keyFiles, type FolderView } from './file-read.js'
import { TYPES_FILE, recordedTypes } from './file-types.js'

/** Dropping and renaming session folders of a file: store. Call each in the turns of the folders it names. */
export interface FolderMoveOptions {
  /** The store's root folder (trash goes there; its fsync makes a move durable). */
  root: string
  sync: boolean
  /** A folder as the store reads it (file-read.ts). */
  view(dir: string): FolderView
}

/**
 * Drops a session. A sub-folder holding only the store's files leaves with one rename(2)
 * (atomic: the session is whole or gone); the root (parent of other sessions) or a folder
 * holding foreign files keeps its folder and loses only the store's own files, as one batch.
 */
export async function dropFolder(place: Place, options: FolderMoveOptions): Promise<void> {
  const { folder } = place
  const { root, sync } = options
  if (!exists(folder.dir)) return folder.log.forget()
  if (place.name === undefined || foreignNames(options.view(folder.dir), false).length > 0) return dropFiles(folder, options)
  await folder.log.flushesSettled() // no checkpoint writes into the folder once it is gone
  const trash = join(root, uniqueName(TRASH_PREFIX))
  renameSync(folder.dir, trash)
  folder.knownToExist = false
  folder.log.forget() // its log went with the folder
  await syncDir(root, sync)
  rmSync(trash, { recursive: true, force: true }) // if this fails, the next open removes it
}

/** Deletes only the store's own files of a folder, as one batch, and leaves the folder. */
async function dropFiles(folder: Folder, { sync, view }: FolderMoveOptions): Promise<void> {
  const { dir } = folder
  const { ops } = planBatch({ set: [], del: keyFiles(view(dir)).map(([type, id]) => [type, id]) }, dir)
  ops.set(CREDS_FILE, null)
  // A Baileys .bak/.tmp whose file is gone still belongs to the session: deleting its owner removes it.
  const owned = recordedTypes(dir)
  for (const e of entries(dir)) if (isCompanion(e.name, owned)) ops.set(companionOwner(e.name)!, null)
  const [outcome] = await commitPlanned([{ folder, ops }], sync)
  if (outcome !== undefined) throw outcome
  await folder.log.checkpoint(sync)
  if (exists(join(dir, TYPES_FILE))) {
    unlinkSync(join(dir, TYPES_FILE))
    await syncDir(dir, sync)
  }
}

/** Moves session folder `from` to `to` (session `toSession`) with one rename(2); throws if `to` holds data. */
export async function moveFolder({ from, to, toSession }: { from: Folder; to: Folder; toSession: string }, options: FolderMoveOptions): Promise<void> {
  const { root, sync } = options
  if (exists(to.dir) && hasData(options.view(to.dir))) throw renameTargetTaken(toSession)
  // The logs are folded into the files first: a log belongs to its folder's path in this process.
  await from.log.checkpoint(sync)
  await to.log.checkpoint(sync)
  if (!exists(from.dir)) return
  renameSync(from.dir, to.dir) // atomic; fails (ENOTEMPTY) rather than replace a folder holding other files
  for (const folder of [from, to]) {
    folder.knownToExist = false
    folder.log.forget()
  }
  await syncDir(root, sync)
}

/**
 * A sub-folder moves with one rename(2): atomic. The root folder (session `default`) holds
 * the other sessions and cannot move, and a hashed folder's id lives in a file inside it, so
 * those are written in place (creds last: an interruption leaves keys without creds, which
 * useAuthState refuses to open).
 */
export function canRename(from: string, to: string): boolean {
  const folders = [from, to].map(session => {
    try {
      return sessionFolder(session)
    } catch {
      return {}
    }
  })
  return folders.every(f => f.name !== undefined && !f.hashed)
}
