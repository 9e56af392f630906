import { lstatSync, readFileSync, unlinkSync } from 'node:fs'
import { unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { VaultError } from '../core/errors.js'

/**
 * The `.tmp` and `.bak` files Baileys' next useMultiFileAuthState keeps beside a file it writes
 * (`<file>.tmp` written, `<file>` renamed to `<file>.bak`, the `.tmp` renamed into place), and
 * reads back when `<file>` is missing or unreadable. They belong to that file: they are never
 * keys, and when this store rewrites or deletes the file it removes them too. That is the one
 * exception to "never touch a file we did not write": a `.bak` kept beside a rewritten or
 * deleted key would bring the old value (an old ratchet: Bad MAC) back into Baileys.
 *
 * Order: a rewrite puts the new file in place first, then removes them (a crash between leaves a
 * `.bak` Baileys never reads, the file being there); a delete removes them first, then the file
 * (a crash between leaves the file, and the commit log replays the delete).
 */
const SUFFIXES = ['.bak', '.tmp'] as const

// Plain node:fs here: file-io.ts (replay) uses this module.
const missing = (err: unknown) => ['ENOENT', 'ENOTDIR'].includes((err as NodeJS.ErrnoException)?.code ?? '')
const ignoreMissing = (err: unknown) => {
  if (!missing(err)) throw err
}
function readMaybe(path: string): Buffer | undefined {
  try {
    return readFileSync(path)
  } catch (err) {
    ignoreMissing(err)
    return undefined
  }
}
function exists(path: string): boolean {
  try {
    lstatSync(path)
    return true
  } catch (err) {
    ignoreMissing(err)
    return false
  }
}

/** Only Baileys' JSON files have companions (`.id` and bookkeeping files never do). */
const hasCompanions = (name: string) => name.endsWith('.json')

export const companionsOf = (name: string): string[] => (hasCompanions(name) ? SUFFIXES.map(s => name + s) : [])

/** The file a companion belongs to (`creds.json.bak` → `creds.json`), else undefined. */
export function companionOwner(name: string): string | undefined {
  const suffix = SUFFIXES.find(s => name.endsWith(s))
  const owner = suffix && name.slice(0, -suffix.length)
  return owner && hasCompanions(owner) ? owner : undefined
}

/** Whether a companion of `name` is on disk (a delete of the file must still remove it). */
export const companionPresent = (dir: string, name: string): boolean => companionsOf(name).some(c => exists(join(dir, c)))

export async function removeCompanions(dir: string, name: string): Promise<void> {
  for (const c of companionsOf(name)) await unlink(join(dir, c)).catch(ignoreMissing)
}

export function removeCompanionsSync(dir: string, name: string): void {
  for (const c of companionsOf(name)) {
    try {
      unlinkSync(join(dir, c))
    } catch (err) {
      ignoreMissing(err)
    }
  }
}

/** Bytes Baileys could read: non-empty, and JSON unless they are one of our envelopes (first byte below 0x20). */
function readable(bytes: Buffer | undefined): bytes is Buffer {
  if (!bytes || bytes.length === 0) return false
  if (bytes.readUInt8(0) < 0x20) return true
  try {
    JSON.parse(bytes.toString('utf8'))
    return true
  } catch {
    return false
  }
}

/**
 * A file read as Baileys' next version reads it: the file, else (missing or unreadable) its
 * `.bak`. `fromBackup` says the `.bak` was used. A file unreadable with no `.bak` is returned
 * as it is (the codec names it CORRUPT_DATA); a `.bak` that is needed and unreadable is
 * CORRUPT_DATA naming both files.
 */
export function readWithBackup(dir: string, name: string): { bytes?: Buffer; fromBackup?: string } {
  const bytes = readMaybe(join(dir, name))
  if (readable(bytes)) return { bytes }
  const backup = join(dir, `${name}.bak`)
  const saved = readMaybe(backup)
  if (saved === undefined) return { bytes }
  if (readable(saved)) return { bytes: saved, fromBackup: backup }
  throw new VaultError(
    'CORRUPT_DATA',
    `${join(dir, name)} is ${bytes === undefined ? 'missing' : 'unreadable'} and its backup ${backup} is unreadable too. ` +
      'Nothing was changed; restore the file from a backup (baileys-vault restore), or remove both to link the account again.'
  )
}
