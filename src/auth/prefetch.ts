import type { ListEntry } from '../core/driver.js'
import { ReadCache } from './read-cache.js'

export interface PrefetchOptions {
  cache: ReadCache
  /** Stored bytes of every key of one type of the session, in one paged listing. */
  list: (type: string) => AsyncIterable<ListEntry>
  /** Keys whose write is queued or in flight right now (their stored value is about to change). */
  writing: () => Iterable<string>
  /** Cache misses on one type (at least half of its recent reads) that start a prefetch of it. */
  after?: number
  /** Most keys one prefetch puts in the cache; default half the cache. */
  limit?: number
}

/** Eight misses are a burst (a group send, a receive backlog); opening a chat misses two or three. */
const DEFAULT_AFTER = 8
/** Reads counted per type before the counts are halved: old misses fade in a warm session. */
const WINDOW = 64

/**
 * Batched prefetch for cold reads. Baileys reads one key per device, one at a time (a first send
 * to a group of 300 devices reads ~900 keys), and each single-key read is a driver round trip.
 * Once a type had `after` misses that are at least half of its recent reads (a group send reads
 * each member's lid-mapping twice: miss, hit, miss, hit…), the whole type is listed once and its
 * stored bytes go into the cache, so the reads that follow hit it. Values are not decoded here: a value
 * Baileys never reads is never parsed (the cache decodes on first read).
 *
 * When the listing holds the whole type, an id it did not list is known absent (until a write
 * of that id starts), so the reads of ids that do not exist skip the driver too.
 *
 * Read-your-writes: a key with a write queued or in flight when the prefetch starts, or whose
 * write starts while it lists (see `touched`), is not filled, and neither is a key the cache
 * already holds: the listing may have read such a key before its write committed.
 */
export class Prefetcher {
  /** Recent reads and misses per type (halved every WINDOW reads). */
  private readonly recent = new Map<string, { reads: number; misses: number }>()
  /** Types prefetched since the cache was last cleared: each at most once. */
  private readonly done = new Set<string>()
  private readonly running = new Map<string, Promise<void>>()
  /**
   * Types whose listing was complete (not cut at `limit`): the keys that may exist, i.e. those
   * listed plus every key written since the listing began. Any other id of the type is absent.
   */
  private readonly complete = new Map<string, Set<string>>()
  /** One set per running prefetch: the keys whose writes started while it lists. */
  private readonly watchers = new Set<Set<string>>()
  private readonly after: number
  private readonly limit: number

  constructor(private readonly options: PrefetchOptions) {
    this.after = options.after ?? DEFAULT_AFTER
    this.limit = options.limit ?? Math.floor(options.cache.maxEntries / 2)
  }

  /** A write of `key` (of `type`) is starting: no running prefetch may fill it, and it may exist. */
  touched(type: string, key: string): void {
    for (const watcher of this.watchers) watcher.add(key)
    const mayExist = this.complete.get(type)
    if (!mayExist) return
    mayExist.add(key)
    // A session that keeps writing new ids would grow this set without bound: give up knowing.
    if (mayExist.size > 2 * this.limit) this.complete.delete(type)
  }

  /** True when a complete listing of `type` showed `key` absent and nothing wrote it since. */
  knownAbsent(type: string, key: string): boolean {
    const mayExist = this.complete.get(type)
    return mayExist !== undefined && !mayExist.has(key)
  }

  /** A read of `type` was served from the cache. */
  hit(type: string): void {
    const counts = this.recent.get(type)
    if (counts) this.count(counts, 0)
  }

  /**
   * A read of `type` missed the cache. Returns the prefetch to wait for when this miss starts
   * one (or one is already listing that type); undefined when the read should go to the driver.
   */
  missed(type: string): Promise<void> | undefined {
    const running = this.running.get(type)
    if (running || this.done.has(type) || this.limit <= 0) return running
    let counts = this.recent.get(type)
    if (!counts) this.recent.set(type, (counts = { reads: 0, misses: 0 }))
    this.count(counts, 1)
    if (counts.misses < this.after || counts.misses * 2 < counts.reads) return undefined
    this.recent.delete(type)
    this.done.add(type)
    const prefetch = this.fill(type).finally(() => this.running.delete(type))
    this.running.set(type, prefetch)
    return prefetch
  }

  /** The cache was cleared (new lease epoch, keys.clear): every type may be prefetched again. */
  reset(): void {
    this.done.clear()
    this.recent.clear()
    this.complete.clear()
  }

  private count(counts: { reads: number; misses: number }, misses: number): void {
    counts.reads++
    counts.misses += misses
    if (counts.reads >= WINDOW) {
      counts.reads >>= 1
      counts.misses >>= 1
    }
  }

  private async fill(type: string): Promise<void> {
    const { cache } = this.options
    const touched = new Set(this.options.writing())
    this.watchers.add(touched)
    try {
      const found: Array<[key: string, bytes: Uint8Array]> = []
      let cut = false
      for await (const [, id, bytes] of this.options.list(type)) {
        if (found.length >= this.limit) {
          cut = true
          break
        }
        if (bytes) found.push([ReadCache.key(type, id), bytes])
      }
      for (const [key, bytes] of found) if (!touched.has(key) && cache.peek(key) === undefined) cache.set(key, { bytes })
      if (!cut) this.complete.set(type, new Set([...found.map(([key]) => key), ...touched]))
    } catch {
      // Only an optimisation failed: every read still goes to the driver, which reports the outage.
    } finally {
      this.watchers.delete(touched)
    }
  }
}
