import { closeSync, fdatasync, fdatasyncSync, fstatSync, fsync, fsyncSync, openSync, stat, statSync } from 'node:fs'
import { dirname } from 'node:path'
import type { Settles } from '../core/driver.js'

/**
 * A durability barrier: commits are made at once (synchronously, in call order) and only their
 * flush to disk is shared. `wait()`, called right after a commit, resolves once a sync that
 * started after that call has finished.
 *
 * Adaptive (when `syncNow` is given): a commit with no company (`claimAlone`, asked before the
 * commit) is made durable by its caller inside the commit, as `synchronous=FULL` would. Other
 * commits on an idle barrier look one turn of the event loop ahead (setImmediate: every callback
 * and promise chain that was ready has run by then). If no other commit came meanwhile, it has
 * no company, and (while inline flushes are fast, see `inlineBelowMs`) it is flushed inline with
 * `syncNow`, on the event loop: a lone bot pays no thread-pool hop. If others came, the group is
 * flushed with `sync` off the event loop, and every commit made while that
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
   * A lone commit is flushed inline unless inline flushes stay at this or slower (ms, default 4;
   * see inlineIsFast). A slower flush is worth overlapping with the event loop's other work
   * (a loaded disk measured 5-8 ms per fdatasync, and a lone conversation then ran 0.83-0.86x of
   * the plain Map with the thread-pool flush against 0.56-0.62x inline); a fast one is not
   * worth the thread-pool hop. 0: no inline flush, every flush shared off the loop.
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

/**
 * Inline flushes are slow from this on (ms; see inlineIsFast). This VM's fdatasync has a p90 of
 * 2.5-4 ms under load: 1 ms sent a lone bot to the thread pool in load spikes, where it waits on
 * the flush and the hop all the same.
 */
const INLINE_BELOW_MS = 4
/**
 * One commit in this many that could be claimed alone looks a turn ahead for company instead. A
 * look-ahead costs a lone bot ~300 µs (a switch of `synchronous` each way, a turn, the flush from
 * JavaScript): 1 in 16 measured ~20 µs per write on average, 1 in 64 is ~5. Company that comes in
 * other turns (many sockets' I/O) is then noticed within 64 commits.
 */
const LOOK_AHEAD_EVERY = 64
/** While inline flushes are slow, one lone commit in this many is flushed inline to measure the disk again. */
const PROBE_EVERY = 8

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
  /** The last 8 inline flushes, one bit each (newest lowest), set when it was slow; and how many are set (see flushInline). */
  private lastInline = 0
  private slowOfLast8 = 0
  /** Lone commits since inline flushes turned slow (see inlineIsFast). */
  private loneWhileSlow = 0
  /**
   * The last flush had company (it covered several commits, or commits came while it ran): the
   * next idle commit starts its flush at once, overlapping the event loop's work, instead of
   * looking a turn ahead. Many sessions (a gateway) then pipeline as a plain shared flush does:
   * the look-ahead ran every account's work before each flush started (0.71-0.85x of the plain
   * Map against 0.93-0.99x before it).
   */
  private together = false
  /** Commits claimed alone, or offered and not claimed (see claimAlone). */
  private claims = 0
  /** A commit was claimed alone and the microtasks queued before it have not all run yet (see claimedContinued). */
  private claimedPending = false

  /** Inline flushes this long or longer are slow (`inlineBelowMs`; 0: never inline). */
  private readonly slowFromMs: number

  constructor(private readonly options: DurabilityBarrierOptions) {
    this.slowFromMs = options.inlineBelowMs ?? INLINE_BELOW_MS
  }

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

  /**
   * Whether a lone commit is flushed inline. Not while inline flushes are slow: the last one took
   * `inlineBelowMs` or more, and so did at least 4 of the last 8 (a few slow ones, such as the
   * WAL's first with its folder's fsync, or a checkpoint's, do not count: this VM's fdatasync has
   * a p50 of 0.2-0.5 ms and a p90 of 2.5-4 ms). While slow, every `PROBE_EVERY`th lone commit is
   * flushed inline all the same: only an inline flush measures the disk alone (a shared one, as
   * the event loop sees it, adds the thread-pool hop), so without the probe one slow spell would
   * keep a lone bot on the thread pool for good; one fast probe ends it.
   */
  private inlineIsFast(): boolean {
    if (this.slowFromMs <= 0) return false // 0: every flush shared
    const slow = this.slowOfLast8 >= 4 && (this.lastInline & 1) === 1
    return !slow || ++this.loneWhileSlow % PROBE_EVERY === 0
  }

  /**
   * Before a commit: whether it has no company. Then the caller makes it durable itself, inside
   * the commit, and reports with `flushedAlone` (SQLite: `synchronous=FULL`, the fsync in COMMIT:
   * no second syscall, no promise, no turn waited, what `groupCommit: false` pays), or with
   * `failedAlone` when that flush failed.
   *
   * No company: no flush runs or is due, the last one had none, no other session's chain committed
   * since the last claimed commit (see claimedContinued), and inline flushes are fast. A claimed
   * commit cannot see the company of the next turns (the event loop waits on its flush), so every
   * `LOOK_AHEAD_EVERY`th one is not claimed: it waits a turn (see afterTurn), and if commits of
   * other sessions came meanwhile they share a flush, and the barrier stays with shared flushes
   * while they keep coming together (the gateway bench, 40 accounts: 0.55x of the plain Map with
   * a flush per commit on the event loop, `groupCommit: false`, against 0.82x shared).
   */
  claimAlone(): boolean {
    // A `joinNext` commit waiting for this one (a send's record) is no company: the fsync in this
    // COMMIT covers the WAL frames before it too, and settles it (flushedAlone).
    if (this.failedWith || !this.options.syncNow || this.running || company(this.next) > 0 || this.together || this.claimedPending) return false
    if (++this.claims % LOOK_AHEAD_EVERY === 0 || !this.inlineIsFast()) return false
    this.claimedPending = true
    queueMicrotask(this.claimedContinued)
    return true
  }

  /**
   * Runs after the microtasks that were queued when a commit was claimed: a commit made before
   * it came from another chain that was ready meanwhile (other sessions at work), not from the
   * claimed commit's caller, whose continuation is queued after it. That commit has company.
   */
  private readonly claimedContinued = () => void (this.claimedPending = false)

  /** A claimed commit is on disk; `ms`: how long it took, its flush included. */
  flushedAlone(ms: number): void {
    this.timedInline(ms)
    this.heldBeforeAlone()?.resolve()
  }

  /** A claimed commit's flush failed: final, as a failed sync is (see the class comment). Returns the error to report. */
  failedAlone(cause: unknown): Error {
    this.failedWith = this.options.failure(cause)
    this.heldBeforeAlone()?.reject(this.failedWith)
    return this.failedWith
  }

  /** The `joinNext` commits a claimed commit carried, handed over (their timer stopped). */
  private heldBeforeAlone(): Waiters | undefined {
    const held = this.next
    if (!held) return undefined
    this.next = undefined
    clearTimeout(this.joinTimer)
    this.joinTimer = undefined
    return held
  }

  /** The inline flush, timed (see inlineIsFast). */
  private flushInline(): void {
    const start = performance.now()
    this.options.syncNow!()
    this.timedInline(performance.now() - start)
  }

  private timedInline(ms: number): void {
    const slow = ms >= this.slowFromMs ? 1 : 0
    this.slowOfLast8 += slow - (this.lastInline >> 7)
    this.lastInline = ((this.lastInline << 1) | slow) & 0xff
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
    if (company(current) > 1 || !this.inlineIsFast()) return this.flushShared()
    this.next = undefined
    this.together = false
    try {
      this.flushInline()
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
    this.options.sync().then(
      () => {
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
