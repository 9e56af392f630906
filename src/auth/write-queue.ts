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
    this.tail = result
    const idle = () => void (this.tail === result && (this.tail = undefined))
    result.then(idle, idle)
    return result
  }

  /**
   * A write its driver already committed in call order (DriverCapabilities.commitsOnCall): later
   * writes need not wait for its flush, but drain() still waits for it.
   */
  started<T>(written: Promise<T>): Promise<T> {
    const previous = this.tail
    const result = previous
      ? previous.then(
          () => written,
          () => written
        )
      : written
    this.tail = result
    const idle = () => void (this.tail === result && (this.tail = undefined))
    result.then(idle, idle)
    return written
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
