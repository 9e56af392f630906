/**
 * Runs tasks one after another in call order. A failed task rejects its own caller only;
 * the next task still runs. This is what makes concurrent saveCreds/keys.set calls land
 * in the order Baileys made them.
 *
 * An idle queue starts the task at once, in the caller's turn: most writes of a session find
 * it idle, and chaining them behind an already-settled promise cost a turn of the microtask
 * queue per write, in which (with many accounts in one process) other accounts' crypto ran first.
 */
export class WriteQueue {
  /** The last task queued; it may reject (its caller handles that), so chaining and drain absorb it. */
  private tail: Promise<unknown> | undefined

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail ? this.tail.then(task, task) : start(task)
    this.follow(result)
    return result
  }

  /**
   * A write its driver already committed in call order (DriverCapabilities.commitsOnCall): later
   * writes need not wait for its flush, but drain() still waits for it. The caller reports its
   * end with `finished(written)` from the handler it already has on it: on an idle queue (most
   * writes) this adds no promise of its own (each promise costs a copy of every enabled
   * AsyncLocalStorage, one per Baileys socket in the process).
   */
  started<T>(written: Promise<T>): Promise<T> {
    if (!this.tail) this.tail = written
    else {
      const after = () => written
      this.follow(this.tail.then(after, after))
    }
    return written
  }

  /** A write handed to `started` settled: if nothing was queued after it, the queue is idle again. */
  finished(written: Promise<unknown>): void {
    if (this.tail === written) this.tail = undefined
  }

  /** Makes `last` the tail, and forgets it once it settles unless something was queued after it. */
  private follow(last: Promise<unknown>): void {
    this.tail = last
    const idle = () => void (this.tail === last && (this.tail = undefined))
    last.then(idle, idle)
  }

  /** Resolves when everything queued so far has settled. */
  async drain(): Promise<void> {
    await this.tail?.then(settled, settled)
  }
}

const settled = () => undefined

/** A task that throws synchronously rejects its caller, as it would behind `then`. */
function start<T>(task: () => Promise<T>): Promise<T> {
  try {
    return task()
  } catch (err) {
    return Promise.reject(err)
  }
}
