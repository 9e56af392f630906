import { join } from 'node:path'
import { VaultError } from '../core/errors.js'
import { readMaybe } from './file-io.js'
import { BAILEYS_TYPES } from './file-names.js'

/**
 * Which key types a folder holds, so the file: store never mistakes a user's file for a key.
 * `app-settings.json` has the name of key "settings" of type "app"; it is the store's own only
 * if "app" is one of Baileys 7's ten key types (never, here) or a type baileys-vault recorded
 * writing in that folder. The record is `.vault-types` in the folder: JSON
 * `{"format":"baileys-vault types","version":1,"types":[…]}`, written atomically (temp file,
 * fsync, rename) before the first file of a new type lands, and only ever grown.
 */
export const TYPES_FILE = '.vault-types'
const FORMAT = 'baileys-vault types'

export const isBaileysType = (type: string) => BAILEYS_TYPES.includes(type)

/** The types recorded in `dir` (empty when there is no record). A damaged record is CORRUPT_DATA. */
export function recordedTypes(dir: string): Set<string> {
  const bytes = readMaybe(join(dir, TYPES_FILE))
  if (bytes === undefined) return new Set()
  let raw: { format?: unknown; version?: unknown; types?: unknown } | undefined
  try {
    raw = JSON.parse(bytes.toString('utf8'))
  } catch {
    raw = undefined
  }
  if (raw?.format !== FORMAT || raw.version !== 1 || !Array.isArray(raw.types) || !raw.types.every((t: unknown) => typeof t === 'string')) {
    throw new VaultError(
      'CORRUPT_DATA',
      `${join(dir, TYPES_FILE)} is damaged: it records which custom key types baileys-vault wrote in this folder. Restore it from a backup; deleting it makes the store ignore (never touch) keys of custom types.`
    )
  }
  return new Set(raw.types as string[])
}

export function encodeTypes(types: Iterable<string>): Buffer {
  return Buffer.from(JSON.stringify({ format: FORMAT, version: 1, types: [...types].sort() }) + '\n', 'utf8')
}

/** Whether files of `type` in a folder with this record are the store's own. */
export const isOwnType = (type: string, recorded: ReadonlySet<string>) => isBaileysType(type) || recorded.has(type)
