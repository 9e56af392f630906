/**
 * Runs tasks one after another in call order. A failed task rejects its own caller only;
 * the next task still runs. This is what makes concurrent saveCreds/keys.set calls land
 * in the order Baileys made them.
 */
export class WriteQueue {
  private tail: Promise<unknown> = Promise.resolve()

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task, task)
    this.tail = result.catch(() => undefined)
    return result
  }

  /** Resolves when everything queued so far has settled. */
  async drain(): Promise<void> {
    await this.tail
  }
}
