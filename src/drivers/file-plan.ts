import { renameSync } from 'node:fs'
import { join } from 'node:path'
import type { WriteBatch } from '../core/driver.js'
import { VaultError, invalidArgument } from '../core/errors.js'
import { makeDir, readMaybe, releaseTemp, removeTemps, syncDir, tempName, writeTemps } from './file-io.js'
import type { Place } from './file-folder.js'
import { CREDS_FILE, SESSION_SIDECAR, keyFile, parseKeyFile } from './file-names.js'
import { entries } from './file-read.js'
import { TYPES_FILE, encodeTypes, isBaileysType, isOwnType, recordedTypes } from './file-types.js'

/** Preparing a batch for a session folder: the folder made, new key types recorded, the files it writes named. */

/**
 * Target file → bytes (null: delete) for a batch; every name is checked before any I/O.
 * Deletes of types the folder does not own are dropped (such a file is not ours); `newTypes`
 * are the types the batch writes that the folder does not own yet (commit records them).
 * The folder's record is read only for a batch with a type Baileys does not have.
 */
export function planBatch(batch: WriteBatch, dir: string): { ops: Map<string, Uint8Array | null>; newTypes: Set<string> } {
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

/** Creates a session's folder (and a hashed folder's `.vault-session`) unless it is known to exist. */
export async function ensureFolder(place: Place, sync: boolean): Promise<void> {
  const { folder } = place
  if (folder.knownToExist) return
  await makeDir(folder.dir, sync)
  if (place.hashed) {
    const existing = readMaybe(join(folder.dir, SESSION_SIDECAR))
    if (existing !== undefined && existing.toString('utf8') !== place.session) {
      throw new VaultError('CORRUPT_DATA', `Folder ${folder.dir} belongs to another session than "${place.session}" (damaged ${SESSION_SIDECAR}).`)
    }
    if (existing === undefined) await replaceFile({ dir: folder.dir, target: SESSION_SIDECAR, value: Buffer.from(place.session, 'utf8'), sync })
  }
  folder.knownToExist = true
}

/**
 * Records custom key types before their first file lands. A type whose names are already
 * taken by files in the folder is refused: those files are not ours to overwrite.
 */
export async function recordTypes(dir: string, types: ReadonlySet<string>, sync: boolean): Promise<void> {
  const recorded = recordedTypes(dir)
  const fresh = [...types].filter(t => !isOwnType(t, recorded))
  if (fresh.length === 0) return
  const taken = entries(dir).flatMap(e => {
    const type = parseKeyFile(e.name)?.type
    return type !== undefined && fresh.includes(type) ? [{ name: e.name, type }] : []
  })
  const [first] = taken
  if (first !== undefined) {
    throw invalidArgument(
      `Folder ${dir} already holds ${taken
        .map(e => e.name)
        .slice(0, 3)
        .join(
          ', '
        )}, named like keys of type "${first.type}" that baileys-vault did not write. Nothing was written; use another key type, or move those files away.`
    )
  }
  await replaceFile({ dir, target: TYPES_FILE, value: encodeTypes([...recorded, ...fresh]), sync })
}

/** temp file → fdatasync → rename → fsync of the folder. */
async function replaceFile({ dir, target, value, sync }: { dir: string; target: string; value: Uint8Array; sync: boolean }): Promise<void> {
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
