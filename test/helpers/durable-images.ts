/**
 * A simulated power cut for SQLite's WAL mode: what survives is what the last fdatasync of the
 * WAL covered, nothing written after it. An fs shim around the fdatasync calls (both the
 * thread-pool one and the inline one; the driver's named imports of node:fs see it through
 * syncBuiltinESMExports) copies the database and its WAL as they are when a flush of the WAL
 * starts, and keeps that copy as the durable image once the flush is done.
 */
import fs, { copyFileSync, existsSync, readFileSync, readlinkSync } from 'node:fs'
import { syncBuiltinESMExports } from 'node:module'
import { basename } from 'node:path'

/** The contact of power-cut-child's recorded sends, whose records the power-cut test looks up. */
export const POWER_CUT_CONTACT = '15550001111@s.whatsapp.net'

export interface DiskImage {
  db: Buffer
  wal: Buffer
}

/** Flushes of WAL files, counted by kind, and each database's files as of its last flush. */
export const flushes = { inline: 0, threadPool: 0, last: new Map<string, DiskImage>() }
const original = { fdatasync: fs.fdatasync, fdatasyncSync: fs.fdatasyncSync }

/**
 * Copies the database and WAL behind `fd` when it is a WAL file, as a flush starts: what it
 * covers. Returns the function that records the copy as durable, called once the flush is done.
 */
function imageOf(fd: number): (() => void) | undefined {
  const path = readlinkSync(`/proc/self/fd/${fd}`)
  if (!path.endsWith('-wal')) return undefined
  const db = path.slice(0, -'-wal'.length)
  const image = { db: readFileSync(db), wal: readFileSync(path) }
  return () => void flushes.last.set(db, image)
}

/** Installs the shim for the whole process (every SQLite store opened in it). */
export function watchFlushes(): void {
  fs.fdatasync = ((fd: number, callback: fs.NoParamCallback) => {
    const done = imageOf(fd)
    if (done) flushes.threadPool++
    return original.fdatasync(fd, err => {
      if (!err) done?.()
      callback(err)
    })
  }) as typeof fs.fdatasync
  fs.fdatasyncSync = (fd: number) => {
    const done = imageOf(fd)
    if (done) flushes.inline++
    original.fdatasyncSync(fd)
    done?.()
  }
  syncBuiltinESMExports()
}

export function unwatchFlushes(): void {
  Object.assign(fs, original)
  syncBuiltinESMExports()
}

/** What a power cut now leaves of the database at `path`: a copy as of its last WAL flush. */
export function powerCut(path: string): DiskImage | undefined {
  const image = flushes.last.get(path)
  return image && { db: Buffer.from(image.db), wal: Buffer.from(image.wal) }
}

/**
 * The LD_PRELOAD shim's image (fsync-image.c: <path>.image-db and .image-wal, the files as of the
 * last WAL flush) copied to <path>.<name> and <path>.<name>-wal: what a power cut now leaves.
 * False when no flush has happened yet (nothing would survive).
 */
export function keepShimImage(path: string, name: string): boolean {
  if (!existsSync(`${path}.image-db`)) return false
  copyFileSync(`${path}.image-db`, `${path}.${name}`)
  copyFileSync(`${path}.image-wal`, `${path}.${name}-wal`)
  return true
}

/**
 * Throws unless the fsync-image shim is mapped into this process: where the loader cannot map an
 * LD_PRELOAD library (a noexec folder, a wrong path) it only prints a warning and goes on, and
 * every power cut would then seem to lose writes for a reason that is not the store's.
 */
export function assertShimLoaded(): void {
  const preload = process.env.LD_PRELOAD ?? ''
  // By file name: the maps name the file by its real path, which a symlinked folder changes.
  if (!preload || !readFileSync('/proc/self/maps', 'utf8').includes(`/${basename(preload)}\n`)) {
    throw new Error(
      `the fsync-image shim is not loaded in this process (LD_PRELOAD=${preload || 'unset'}): the loader ignored it; build it where shared objects may be mapped`
    )
  }
}

/** A copy keepShimImage made, or undefined when it made none. */
export function keptShimImage(path: string, name: string): DiskImage | undefined {
  if (!existsSync(`${path}.${name}`)) return undefined
  return { db: readFileSync(`${path}.${name}`), wal: readFileSync(`${path}.${name}-wal`) }
}
