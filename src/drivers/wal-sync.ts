import { closeSync, fdatasync, fdatasyncSync, fstatSync, fsync, fsyncSync, openSync, stat, statSync } from 'node:fs'
import { dirname } from 'node:path'
import type { Settles } from '../core/driver.js'

/**
 * A durability barrier: commits are made at once (synchronously, in call order) and only their
 * flush to disk is shared. `wait()`, called right after a commit, resolves once a sync that
 * started after that call has finished.
 *
 * Adaptive (when `syncNow` is given): a commit on an idle barrier looks one turn of the event
 * loop ahead (setImmediate: every callback and promise chain that was ready has run by then).
 * If no other commit came meanwhile, it has no company, and (while recent flushes were fast, see
 * `inlineBelowMs`) it is flushed inline with `syncNow`, on the event loop, as `synchronous=FULL`
 * would: a lone bot pays no thread-pool hop. If others
 * came, the group is flushed with `sync` off the event loop, and every commit made while that
 * runs joins the next one, which starts when the current one ends. While commits keep coming
 * together (the last flush had company), an idle commit skips the look-ahead and starts its
 * shared flush at once, so the flush overlaps the other sessions' work. So one flush serves every
 * commit of every session made meanwhile (group commit at the flush), and no commit waits
 * longer than two flushes. Either way a commit's write resolves only after a flush that started
 * after the commit: the same power-loss guarantee.
 *
 * A failed sync is final: its waiters and those of the next sync are rejected with
 * `failure(cause)`, and so is every later `wait()` (see `failed`). After a failed fsync the
 * kernel may have dropped the dirty pages and marked them clean, so a later sync that succeeds
 * would prove nothing (PostgreSQL's "fsyncgate"): only reopening the store is safe.
 */
export interface DurabilityBarrierOptions {
  /** Flushes everything committed before it started (e.g. fdatasync of the WAL), off the event loop. */
  sync: () => Promise<void>
  /** The same flush, synchronously on the event loop (for a commit without company). Without it, every flush uses `sync`. */
  syncNow?: () => void
  /**
   * A lone commit is flushed inline only while recent flushes took less than this (ms, a moving
   * average; default 1). A slower flush is worth overlapping with the event loop's other work
   * (a loaded disk measured 5-8 ms per fdatasync, and a lone conversation then ran 0.83-0.86x of
   * the plain Map with the thread-pool flush against 0.56-0.62x inline); a fast one is not
   * worth the thread-pool hop.
   */
  inlineBelowMs?: number
  /** How long a `joinNext` commit on an idle barrier waits at most for company before its flush starts (ms; earlier once its `until` settles). Default 50. */
  joinWithinMs?: number
  /** The error waiters get when the sync fails. */
  failure: (cause: unknown) => Error
}

interface Waiters {
  promise: Promise<void>
  resolve(): void
  reject(err: unknown): void
  /** Commits covered by this flush. */
  commits: number
  /** Of those, `joinNext` commits: each came with the commit that follows it (a send's record and its keys), so it is no company. */
  joined: number
}

function waiters(): Waiters {
  let resolve!: () => void
  let reject!: (err: unknown) => void
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)))
  return { promise, resolve, reject, commits: 0, joined: 0 }
}

/** Commits of a flush that count as company: a `joinNext` commit came with the one after it. */
const company = (w: Waiters | undefined): number => (w ? w.commits - w.joined : 0)

export class DurabilityBarrier {
  /** Commits waiting for the next sync (not started yet). */
  private next?: Waiters
  /** A sync is in flight or due. */
  private running = false
  /** Settles when the running sync and any due after it are done; made only when idle() asks (a promise per flush costs a lone bot). */
  private whenIdle?: Waiters
  /** Starts the flush of `joinNext` commits that no other commit came to carry. */
  private joinTimer?: NodeJS.Timeout
  private failedWith?: Error
  /** Moving average of how long flushes took, start to completion as the event loop saw it (ms). */
  private flushMs = 0
  /**
   * The last flush had company (it covered several commits, or commits came while it ran): the
   * next idle commit starts its flush at once, overlapping the event loop's work, instead of
   * looking a turn ahead. Many sessions (a gateway) then pipeline as a plain shared flush does:
   * the look-ahead ran every account's work before each flush started (0.71-0.85x of the plain
   * Map against 0.93-0.99x before it).
   */
  private together = false

  constructor(private readonly options: DurabilityBarrierOptions) {}

  /** The error of a failed sync, once one failed: writes must be refused from then on. */
  get failed(): Error | undefined {
    return this.failedWith
  }

  /**
   * Call right after a commit: resolves once that commit is on disk. `joinNext`: on an idle
   * barrier, start no flush; the commit waits for the next commit's flush, at most until `until`
   * settles or `joinWithinMs` passed (WriteBatch.joinNext: a record whose send's keys follow).
   */
  wait(options: { joinNext?: boolean; until?: Settles } = {}): Promise<void> {
    if (this.failedWith) return Promise.reject(this.failedWith)
    const next = (this.next ??= waiters())
    next.commits++
    if (options.joinNext) next.joined++
    if (!this.running) {
      if (!options.joinNext) this.start()
      else {
        this.joinTimer ??= setTimeout(() => this.start(), this.options.joinWithinMs ?? 50)
        // The send ended with no commit after this one: its flush starts now, unless one took it already.
        const stopWaiting = () => void (this.next === next && !this.running && this.start())
        options.until?.then(stopWaiting, stopWaiting)
      }
    }
    return next.promise
  }

  /** Resolves when every commit that waited so far has its outcome (close waits on this). */
  async idle(): Promise<void> {
    // A `joinNext` commit may wait for its flush with none running yet.
    while (this.running || this.next) await (this.running ? (this.whenIdle ??= waiters()) : this.next!).promise.catch(() => undefined)
  }

  private start(): void {
    clearTimeout(this.joinTimer)
    this.joinTimer = undefined
    if (this.running) return
    this.running = true
    // Idle: look a turn ahead for company (adaptive), or start the shared flush at once; both
    // start after the caller's commit.
    if (this.options.syncNow && !this.together) setImmediate(this.afterTurn)
    else this.flushShared()
  }

  /**
   * A turn after the first commit on an idle barrier: alone, it is flushed inline. A `joinNext`
   * commit is not company: a lone send's record and keys are one send's work, and a thread-pool
   * hop would only add latency to it (1:1 traffic on SQLite paid ~10% of its msg/s for it).
   */
  private readonly afterTurn = () => {
    const current = this.next!
    if (company(current) > 1 || this.flushMs >= (this.options.inlineBelowMs ?? 1)) return this.flushShared()
    this.next = undefined
    this.together = false
    try {
      const start = performance.now()
      this.options.syncNow!()
      this.took(start)
      current.resolve()
    } catch (cause) {
      this.fail(current, cause)
    }
    this.stopped()
  }

  /** Flushes off the event loop until no commit waits; one promise chain per flush, not per commit. */
  private flushShared(): void {
    const current = this.next
    if (!current) return this.stopped()
    this.next = undefined
    const start = performance.now()
    this.options.sync().then(
      () => {
        this.took(start)
        this.together = company(current) > 1 || company(this.next) > 0
        current.resolve()
        this.flushShared()
      },
      cause => {
        this.fail(current, cause)
        this.stopped()
      }
    )
  }

  /**
   * A shared flush's time includes the event loop's other work before its callback ran: work
   * that overlapped the flush, which is what makes it worth keeping off the loop.
   */
  private took(start: number): void {
    this.flushMs += (performance.now() - start - this.flushMs) / 8
  }

  private fail(current: Waiters, cause: unknown): void {
    this.failedWith = this.options.failure(cause)
    current.reject(this.failedWith)
    // Commits made during the failed sync: their own sync would prove nothing now.
    this.next?.reject(this.failedWith)
    this.next = undefined
  }

  private stopped(): void {
    const whenIdle = this.whenIdle
    this.running = false
    this.whenIdle = undefined
    whenIdle?.resolve()
  }
}

/**
 * fdatasync of a SQLite `-wal` file, off the event loop (`sync`, on libuv's thread pool) or on
 * it (`syncNow`). One file descriptor is kept; each sync also checks that the path still names
 * the same file (the WAL is recreated if every connection closed it), and a new WAL file gets
 * its folder fsync'd once, so its directory entry survives a power loss too (SQLite does that on
 * its first sync of the file, which `synchronous=NORMAL` defers to the first checkpoint).
 */
export class WalFile {
  private handle?: { fd: number; ino: number }

  constructor(private readonly walPath: string) {}

  /**
   * The fdatasync and the check of the path run at once on the thread pool, with callbacks: one
   * promise per flush (the promise API made ~18, and each promise costs a copy of every enabled
   * AsyncLocalStorage, one per Baileys socket in the process).
   */
  readonly sync = (): Promise<void> => {
    const handle = this.handle
    return new Promise<void>((resolve, reject) => {
      if (!handle) return this.reopen(resolve, reject)
      let waiting = 2
      let error: unknown
      let moved = false
      const settle = () => {
        if (--waiting > 0) return
        if (error) reject(error)
        else if (moved) this.reopen(resolve, reject)
        else resolve()
      }
      fdatasync(handle.fd, err => {
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

  /** The same flush, synchronously (a commit without company: no thread-pool hop). */
  readonly syncNow = (): void => {
    const handle = this.handle
    if (handle && statSync(this.walPath).ino === handle.ino) return fdatasyncSync(handle.fd)
    this.close()
    const fd = openSync(this.walPath, 'r')
    this.handle = { fd, ino: fstatSync(fd).ino }
    fdatasyncSync(fd)
    const folder = openSync(dirname(this.walPath), 'r')
    try {
      fsyncSync(folder)
    } finally {
      closeSync(folder)
    }
  }

  close(): void {
    const handle = this.handle
    this.handle = undefined
    if (handle) closeSync(handle.fd)
  }

  /** Opens the WAL file anew and flushes it and its folder, off the event loop. */
  private reopen(resolve: () => void, reject: (err: unknown) => void): void {
    try {
      this.close()
      // The open is quick (the path is in the dentry cache); the flushes are the slow part.
      const fd = openSync(this.walPath, 'r')
      this.handle = { fd, ino: fstatSync(fd).ino }
      const folder = openSync(dirname(this.walPath), 'r')
      let waiting = 2
      let error: unknown
      const settle = (err: unknown) => {
        error ??= err
        if (--waiting > 0) return
        closeSync(folder)
        if (error) reject(error)
        else resolve()
      }
      fdatasync(fd, settle)
      fsync(folder, settle)
    } catch (err) {
      reject(err)
    }
  }
}
