import { closeSync, fsyncSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { LeaseCapability } from '../core/driver.js'
import { VaultError } from '../core/errors.js'
import { FILE_MODE, makeDir, processAlive, readMaybe } from './file-io.js'
import { hashName } from './file-names.js'
import { leaseCapability, leaseLost } from './shared-lease.js'

/**
 * Leases of the file: store, in `.vault-leases/` under the root (a dot folder: never a session,
 * and Baileys ignores it). Per session (named by the hash of its id):
 *
 *   {hash}.lease  owner, epoch and heartbeat deadline (JSON), replaced atomically and fsync'd;
 *                 never deleted, so the epoch counter survives release, expiry and drop
 *   {hash}.lock   created with O_EXCL, holding the pid: a short mutual exclusion between
 *                 processes around each lease step and around a fenced write's commit
 *
 * A fenced write holds the lock from its epoch check through its last rename (one lock per
 * commit, never one per key file), so no acquisition can slip in between check and commit.
 * Clock: a file: store is one machine's folder, so the heartbeat deadline is that machine's
 * clock (Date.now()), the same for every process sharing the folder. A lock left by a process
 * that died (its pid is gone) is removed; the lock is only held for milliseconds.
 */
const DIR = '.vault-leases'
/** How long a step waits for the lock held by a live process (a write being committed). */
const LOCK_WAIT_MS = 10_000
/** A lock file still empty after this long was left by a process that died creating it. */
const EMPTY_LOCK_STALE_MS = 2_000

interface LeaseRecord {
  owner: string
  epoch: number
  expiresAt: number
}

const code = (err: unknown) => (err as NodeJS.ErrnoException)?.code

/** A session's lease record (undefined: none yet); a damaged one is CORRUPT_DATA. */
function readLease(path: string): LeaseRecord | undefined {
  const bytes = readMaybe(path)
  if (!bytes) return undefined
  try {
    const r = JSON.parse(bytes.toString('utf8'))
    if (typeof r.owner === 'string' && Number.isSafeInteger(r.epoch) && typeof r.expiresAt === 'number') return r
  } catch {
    // reported below
  }
  throw new VaultError(
    'CORRUPT_DATA',
    `Lease file ${path} is damaged. Stop every process using this folder, then delete the file (the next lease starts again at epoch 1).`
  )
}

/**
 * The locks this process holds right now (process-wide on purpose: a lock file names a pid).
 * A lock naming this pid that is not here was left by a release whose unlink failed (the folder
 * was read-only for a while): without this, this process would wait on itself for ever.
 */
const heldHere = new Set<string>()

/** Removes a lock whose process is gone, or that this process left behind; true if it did (or the lock vanished). */
function breakStale(lock: string): boolean {
  const text = readMaybe(lock)?.toString('utf8')
  if (text === undefined) return true
  const pid = Number(text)
  const leftHere = pid === process.pid && !heldHere.has(lock)
  const stale = leftHere || (text === '' ? Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? 0) > EMPTY_LOCK_STALE_MS : !processAlive(pid))
  if (stale) unlinkSync(lock)
  return stale
}

/** Creates a lock file holding the pid (waiting up to LOCK_WAIT_MS for a live holder); returns its release. */
async function createLock(lock: string): Promise<() => void> {
  const deadline = performance.now() + LOCK_WAIT_MS
  for (;;) {
    try {
      const fd = openSync(lock, 'wx', FILE_MODE)
      writeSync(fd, String(process.pid))
      closeSync(fd)
      heldHere.add(lock)
      return () => {
        heldHere.delete(lock) // even if the unlink fails: a lock left behind is then known as stale
        unlinkSync(lock)
      }
    } catch (err) {
      if (code(err) !== 'EEXIST') throw err
    }
    let broke = false
    try {
      broke = breakStale(lock)
    } catch (err) {
      if (code(err) !== 'ENOENT') throw err
    }
    if (broke) continue
    if (performance.now() > deadline) {
      throw new VaultError(
        'BACKEND_UNAVAILABLE',
        `The lease lock ${lock} has been held by a live process for ${LOCK_WAIT_MS / 1000} s (a stopped process in the middle of a write?). Resume or stop that process, then retry.`
      )
    }
    await sleep(2)
  }
}

export function fileLease(root: string, sync: boolean): { lease: LeaseCapability; holdFenced(session: string, epoch: number): Promise<() => void> } {
  const dir = join(root, DIR)
  let made: Promise<unknown> | undefined
  const paths = (session: string) => {
    const base = join(dir, hashName(session))
    return { record: `${base}.lease`, lock: `${base}.lock`, temp: `${base}.lease.${process.pid}.tmp` }
  }

  const write = (p: ReturnType<typeof paths>, record: LeaseRecord) => {
    const fd = openSync(p.temp, 'w', FILE_MODE)
    try {
      writeSync(fd, JSON.stringify(record))
      if (sync) fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(p.temp, p.record)
    if (sync) {
      const d = openSync(dir, 'r')
      try {
        fsyncSync(d)
      } finally {
        closeSync(d)
      }
    }
  }

  /** Takes a session's lock (waiting up to LOCK_WAIT_MS for a live holder); call `release` when done. */
  const takeLock = async (session: string): Promise<{ p: ReturnType<typeof paths>; release: () => void }> => {
    made ??= makeDir(dir, sync).catch(err => {
      made = undefined
      throw err
    })
    await made
    const p = paths(session)
    return { p, release: await createLock(p.lock) }
  }

  const withLock = async <T>(session: string, step: (p: ReturnType<typeof paths>) => T | Promise<T>): Promise<T> => {
    const { p, release } = await takeLock(session)
    try {
      return await step(p)
    } finally {
      release()
    }
  }

  const lease = leaseCapability(
    {
      acquire: ({ session, owner, ttlMs, replace }) =>
        withLock(session, p => {
          const r = readLease(p.record)
          const now = Date.now()
          if (r && r.owner !== '' && r.owner !== owner && r.owner !== replace && r.expiresAt > now) return { heldBy: r.owner, expiresInMs: r.expiresAt - now }
          const epoch = (r?.epoch ?? 0) + 1
          write(p, { owner, epoch, expiresAt: now + ttlMs })
          return { epoch }
        }),
      renew: ({ session, owner, epoch, ttlMs }) =>
        withLock(session, p => {
          const r = readLease(p.record)
          if (!r || r.owner !== owner || r.epoch !== epoch) return false
          write(p, { ...r, expiresAt: Date.now() + ttlMs })
          return true
        }),
      release: ({ session, owner, epoch }) =>
        withLock(session, p => {
          const r = readLease(p.record)
          if (r && r.owner === owner && r.epoch === epoch) write(p, { owner: '', epoch, expiresAt: 0 })
        }),
      async info(session) {
        const r = readLease(paths(session).record)
        return r && r.owner !== '' ? { owner: r.owner, epoch: r.epoch, expiresInMs: r.expiresAt - Date.now() } : undefined
      }
    },
    undefined,
    { local: true }
  )

  return {
    lease,
    /**
     * Takes the session's lock if `epoch` is current (else throws LEASE_LOST, lock released);
     * the caller commits, then calls `release`: no acquisition slips in between check and commit.
     */
    async holdFenced(session, epoch) {
      const { p, release } = await takeLock(session)
      try {
        const r = readLease(p.record)
        if (!r || r.owner === '' || r.epoch !== epoch) throw leaseLost(session, epoch)
      } catch (err) {
        release()
        throw err
      }
      return release
    }
  }
}
