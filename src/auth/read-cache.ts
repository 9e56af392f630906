/**
 * A bounded LRU of stored bytes (not decoded objects, so a caller mutating what it got
 * can never change what the cache returns). `null` records a known-absent key, which
 * saves a round trip for the many ids Baileys asks about that do not exist.
 */
export class ReadCache {
  private readonly entries = new Map<string, Uint8Array | null>()
  /** Bumped by every write, so a read that raced a write does not cache what it fetched. */
  generation = 0

  constructor(readonly maxEntries: number) {}

  static key(type: string, id: string): string {
    return `${type}\u0000${id}`
  }

  get(key: string): Uint8Array | null | undefined {
    const value = this.entries.get(key)
    if (value === undefined) return undefined
    // Re-insert to mark as most recently used.
    this.entries.delete(key)
    this.entries.set(key, value)
    return value
  }

  set(key: string, value: Uint8Array | null): void {
    if (this.maxEntries <= 0) return
    this.entries.delete(key)
    this.entries.set(key, value)
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!)
  }

  delete(key: string): void {
    this.entries.delete(key)
  }

  clear(): void {
    this.entries.clear()
  }

  get size(): number {
    return this.entries.size
  }
}
