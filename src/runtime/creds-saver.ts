/**
 * Batched creds persistence. Baileys fires `creds.update` in bursts (login, pre-key uploads,
 * app-state sync). While one creds write is in flight, later saves coalesce into one write of the
 * newest snapshot, taken when that write starts. Each caller resolves only when a snapshot at
 * least as new as the one at its call is durable, and rejects if that write fails.
 *
 * Atomicity: each creds snapshot is one atomic driver write; each Baileys key transaction is one
 * atomic `keys.set`. Baileys itself splits a pre-key upload into two writes (the new pre-keys,
 * then the creds counters); preflight.ts repairs a crash between the two.
 */
export class CredsSaver {
  private running?: Promise<void>
  private pending?: Promise<void>
  /** saveCreds calls, writes made, and writes saved by coalescing. */
  calls = 0
  writes = 0
  coalesced = 0

  constructor(private readonly write: () => Promise<void>) {}

  save = (): Promise<void> => {
    this.calls++
    if (this.pending) {
      this.coalesced++
      return this.pending
    }
    if (!this.running) return this.start()
    const pending: Promise<void> = this.running.then(
      () => this.afterRunning(pending),
      () => this.afterRunning(pending)
    )
    this.pending = pending
    return pending
  }

  /** Resolves once every save asked so far has settled. */
  async idle(): Promise<void> {
    while (this.running || this.pending) await (this.pending ?? this.running)!.catch(() => undefined)
  }

  private afterRunning(pending: Promise<void>): Promise<void> {
    if (this.pending === pending) this.pending = undefined
    return this.start()
  }

  private start(): Promise<void> {
    this.writes++
    const run: Promise<void> = this.write().finally(() => {
      if (this.running === run) this.running = undefined
    })
    this.running = run
    return run
  }
}
