import { typeIdKey } from '../core/bytes.js'

/**
 * What the cache holds for a key: the stored bytes (decoded on every read, so a caller that
 * mutates what it got can never change what the next read returns), or, for types whose
 * readers never mutate values (see SHARED_VALUE_TYPES), the decoded value itself.
 * `null` records a known-absent key, which saves a round trip for the many ids Baileys asks
 * about that do not exist.
 */
export type CacheEntry = { bytes: Uint8Array; value?: undefined } | { value: unknown; bytes?: undefined } | null

/**
 * Types whose decoded values are handed out shared, skipping a JSON parse per read (profiled:
 * the decode of a Signal session was most of the store's cost per message). Audited against
 * Baileys 7 and libsignal: sessions are copied by SessionRecord.deserialize and written as fresh
 * objects by serialize(); sender keys are parsed from their bytes; identity keys are only
 * compared; lid mappings are strings. Every other type is cached as bytes.
 */
export const SHARED_VALUE_TYPES: ReadonlySet<string> = new Set(['session', 'sender-key', 'identity-key', 'lid-mapping'])

export class ReadCache {
  private readonly entries = new Map<string, CacheEntry>()
  /** Bumped by every write, so a read that raced a write does not cache what it fetched. */
  generation = 0

  constructor(readonly maxEntries: number) {}

  static key(type: string, id: string): string {
    return typeIdKey(type, id)
  }

  get(key: string): CacheEntry | undefined {
    const value = this.entries.get(key)
    if (value === undefined) return undefined
    // Re-insert to mark as most recently used.
    this.entries.delete(key)
    this.entries.set(key, value)
    return value
  }

  /** The entry without marking it used (the prefetch asks whether a key is cached at all). */
  peek(key: string): CacheEntry | undefined {
    return this.entries.get(key)
  }

  set(key: string, value: CacheEntry): void {
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
