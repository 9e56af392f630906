import { readdirSync, type Dirent } from 'node:fs'
import { join } from 'node:path'
import { VaultError } from '../core/errors.js'
import { exists, isMissing, readMaybe } from './file-io.js'
import type { LoggedWrite } from './file-log.js'
import { CREDS_FILE, SESSION_SIDECAR, isKeyFile, isSessionFolder, isVaultName, parseKeyFile, parseSessionFolder } from './file-names.js'
import { isOwnType, recordedTypes } from './file-types.js'
import { companionOwner, readWithBackup } from './file-companions.js'

/**
 * Reading a session folder of the file: store as its committed writes leave it: the files,
 * with the writes committed to its log and not yet in place laid over them.
 */
export interface FolderView {
  dir: string
  /** Committed writes not yet in the files: this process's index, or (read-only) the logs on disk. */
  logged(): ReadonlyMap<string, LoggedWrite> | undefined
}

/** A file's committed bytes: the log's newest write of it, else the file (undefined: none). */
export function readValue(view: FolderView, name: string, index = view.logged()): Buffer | undefined {
  const write = index?.get(name)
  if (!write) return readMaybe(join(view.dir, name))
  return write.value === null ? undefined : Buffer.from(write.value) // a copy: the index keeps its bytes
}

/**
 * The committed creds: the log's newest, else creds.json, else (missing or unreadable, as
 * Baileys' next version reads it) creds.json.bak; `fromBackup` names the .bak used.
 */
export function readCreds(view: FolderView): { bytes?: Uint8Array; fromBackup?: string } {
  const write = view.logged()?.get(CREDS_FILE)
  if (write) return { bytes: write.value === null ? undefined : Buffer.from(write.value) }
  return readWithBackup(view.dir, CREDS_FILE)
}

/** Entries of a folder (none when it does not exist). */
export function entries(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
  } catch (err) {
    if (isMissing(err)) return []
    throw err
  }
}

/** The exact session id of a hashed sub-folder of `root`, from its `.vault-session` file. */
export function sidecarSession(root: string, name: string): string | undefined {
  const text = readMaybe(join(root, name, SESSION_SIDECAR))?.toString('utf8')
  return text !== undefined && isSessionFolder(name, text) ? text : undefined
}

/** Every key file of the store's own types in a folder as [type, id, file name], sorted by type then id. */
export function keyFiles(view: FolderView, type?: string): Array<[string, string, string]> {
  const { dir } = view
  const index = view.logged()
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
    const id = readValue(view, k.idFile, index)?.toString('utf8')
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
export function foreignNames(view: FolderView, isRoot: boolean): string[] {
  const all = entries(view.dir)
  const owned = all.length > 0 ? recordedTypes(view.dir) : new Set<string>()
  const ours = new Set([CREDS_FILE])
  for (const [, , name] of keyFiles(view)) {
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
export function isCompanion(name: string, owned?: ReadonlySet<string>): boolean {
  const owner = companionOwner(name)
  if (owner === undefined) return false
  if (owner === CREDS_FILE) return true
  const k = parseKeyFile(owner)
  return !!k && isOwnType(k.type, owned ?? new Set())
}

/** Whether a folder holds a session's data: creds (or their .bak) or a key file, even a damaged one. */
export function hasData(view: FolderView): boolean {
  if (readValue(view, CREDS_FILE) !== undefined || exists(join(view.dir, `${CREDS_FILE}.bak`))) return true
  try {
    return keyFiles(view).length > 0
  } catch {
    return true // a damaged key file is still data
  }
}
