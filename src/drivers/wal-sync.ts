import { fdatasync, stat } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { dirname } from 'node:path'

/**
 * A durability barrier: commits are made at once (synchronously, in call order) and only their
 * flush to disk is shared. `wait()`, called right after a commit, resolves once a `sync` that
 * started after that call has finished. The first commit on an idle barrier starts a sync at
 * once; every commit made while a sync is in flight joins the next one, which starts when the
 * current one ends. So one flush serves every commit of every session made meanwhile (group
 * commit at the flush), and no commit waits longer than two flushes.
 *
 * A failed sync is final: its waiters and those of the next sync are rejected with
 * `failure(cause)`, and so is every later `wait()` (see `failed`). After a failed fsync the
 * kernel may have dropped the dirty pages and marked them clean, so a later sync that succeeds
 * would prove nothing (PostgreSQL's "fsyncgate"): only reopening the store is safe.
 */
export interface DurabilityBarrierOptions {
  /** Flushes everything committed before it started (e.g. fdatasync of the WAL). */
  sync: () => Promise<void>
  /** The error waiters get when the sync fails. */
  failure: (cause: unknown) => Error
}

interface Waiters {
  promise: Promise<void>
  resolve(): void
  reject(err: unknown): void
}

function waiters(): Waiters {
  let resolve!: () => void
  let reject!: (err: unknown) => void
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)))
  return { promise, resolve, reject }
}

export class DurabilityBarrier {
  /** Commits waiting for the next sync (not started yet). */
  private next?: Waiters
  /** Settles when no sync is in flight and none is due. */
  private running?: Promise<void>
  private failedWith?: Error

  constructor(private readonly options: DurabilityBarrierOptions) {}

  /** The error of a failed sync, once one failed: writes must be refused from then on. */
  get failed(): Error | undefined {
    return this.failedWith
  }

  /** Call right after a commit: resolves once that commit is on disk. */
  wait(): Promise<void> {
    if (this.failedWith) return Promise.reject(this.failedWith)
    this.next ??= waiters()
    const { promise } = this.next
    // Started synchronously: a sync started now starts after the caller's commit.
    this.running ??= this.flushAll()
    return promise
  }

  /** Resolves when every commit that waited so far has its outcome (close waits on this). */
  async idle(): Promise<void> {
    while (this.running) await this.running
  }

  private async flushAll(): Promise<void> {
    while (this.next) {
      const current = this.next
      this.next = undefined
      try {
        await this.options.sync()
        current.resolve()
      } catch (cause) {
        this.failedWith = this.options.failure(cause)
        current.reject(this.failedWith)
        // Commits made during the failed sync: their own sync would prove nothing now.
        const later = this.next as Waiters | undefined
        later?.reject(this.failedWith)
        this.next = undefined
      }
    }
    this.running = undefined
  }
}

/**
 * fdatasync of a SQLite `-wal` file, on libuv's thread pool (the event loop keeps running). One
 * file handle is kept; each sync also checks that the path still names the same file (the WAL
 * is recreated if every connection closed it), and a new WAL file gets its folder fsync'd once,
 * so its directory entry survives a power loss too (SQLite does that on its first sync of the
 * file, which `synchronous=NORMAL` defers to the first checkpoint).
 */
export class WalFile {
  private handle?: { file: FileHandle; ino: number }

  constructor(private readonly walPath: string) {}

  /**
   * The fdatasync and the check of the path run at once on the thread pool, with callbacks: one
   * promise per flush (the promise API made ~18, and each promise costs a copy of every enabled
   * AsyncLocalStorage, one per Baileys socket in the process).
   */
  readonly sync = (): Promise<void> => {
    const handle = this.handle
    if (!handle) return this.reopen()
    return new Promise<void>((resolve, reject) => {
      let waiting = 2
      let error: unknown
      let moved = false
      const settle = () => {
        if (--waiting > 0) return
        if (error) reject(error)
        else if (moved) this.reopen().then(resolve, reject)
        else resolve()
      }
      fdatasync(handle.file.fd, err => {
        if (err) error ??= err
        settle()
      })
      stat(this.walPath, (err, now) => {
        if (err) error ??= err
        else moved = now.ino !== handle.ino
        settle()
      })
    })
  }

  async close(): Promise<void> {
    const handle = this.handle
    this.handle = undefined
    await handle?.file.close()
  }

  private async reopen(): Promise<void> {
    await this.close()
    const file = await open(this.walPath, 'r')
    this.handle = { file, ino: (await file.stat()).ino }
    await file.datasync()
    const folder = await open(dirname(this.walPath), 'r')
    try {
      await folder.sync()
    } finally {
      await folder.close()
    }
  }
}
