import { must } from '../core/defined.js'

/**
 * The in-memory index of one session's retry store entries (messages or resend counters):
 * which stored id holds a key, and in what order they were written. Stored ids carry the
 * write time (`<time base36>.<key>`), so the index is rebuilt from one listing of ids (no
 * values), and expiry by age and count needs no scan: the oldest entries are at the front.
 * Memory and the work per add stay bounded by `max`, however many entries were ever added.
 */
export interface TimedEntry {
  readonly storeId: string
  readonly key: string
  readonly at: number
  /** Replaced by a newer entry under the same key, or evicted: skipped by the queue. */
  gone?: boolean
}

export interface RetentionBounds {
  /** Entries older than this are expired (ms). */
  retainMs: number
  /** At most this many entries; the oldest go first. */
  max: number
}

const TIME_WIDTH = 9 // base36 milliseconds: enough until the year 5188

export const storeIdOf = (at: number, key: string): string => `${Math.max(0, Math.floor(at)).toString(36).padStart(TIME_WIDTH, '0')}.${key}`

/** (time, key) of a stored id, or undefined for an id this index did not write. */
export function parseStoreId(storeId: string): { at: number; key: string } | undefined {
  const dot = storeId.indexOf('.')
  if (dot !== TIME_WIDTH || dot === storeId.length - 1) return undefined
  const at = parseInt(storeId.slice(0, dot), 36)
  return Number.isFinite(at) && storeIdOf(at, 'x').slice(0, TIME_WIDTH) === storeId.slice(0, TIME_WIDTH) ? { at, key: storeId.slice(dot + 1) } : undefined
}

export class TimedIndex {
  /** Live and gone entries in time order; `head` is the oldest not yet dropped. */
  private queue: TimedEntry[] = []
  private head = 0
  private readonly byKey = new Map<string, TimedEntry>()
  /** Keys evicted recently (bounded by max), to tell "expired" from "never recorded". */
  private readonly evicted = new Set<string>()

  constructor(readonly bounds: RetentionBounds) {}

  get size(): number {
    return this.byKey.size
  }

  /** Entries held in memory, live or waiting to be compacted away (bounded by about 2 x max). */
  get held(): number {
    return this.queue.length - this.head + this.evicted.size
  }

  /** The entry at `i`, an index the caller keeps within the queue. */
  private entry(i: number): TimedEntry {
    return must(this.queue[i], 'i is within the queue')
  }

  /** Age of the oldest and newest live entries (ms), for inspect-style reports. */
  ages(now: number): { oldestMs?: number; newestMs?: number } {
    let oldest: TimedEntry | undefined
    for (let i = this.head; i < this.queue.length && !oldest; i++) if (!this.entry(i).gone) oldest = this.entry(i)
    let newest: TimedEntry | undefined
    for (let i = this.queue.length - 1; i >= this.head && !newest; i--) if (!this.entry(i).gone) newest = this.entry(i)
    return { oldestMs: oldest && now - oldest.at, newestMs: newest && now - newest.at }
  }

  /** Rebuilds from stored ids; returns the ids that are not this index's (left alone). */
  load(storeIds: Iterable<string>): string[] {
    const foreign: string[] = []
    const entries: TimedEntry[] = []
    for (const storeId of storeIds) {
      const parsed = parseStoreId(storeId)
      if (parsed) entries.push({ storeId, ...parsed })
      else foreign.push(storeId)
    }
    entries.sort((a, b) => a.at - b.at || (a.storeId < b.storeId ? -1 : 1))
    this.queue = []
    this.head = 0
    this.byKey.clear()
    for (const entry of entries) this.push(entry)
    return foreign
  }

  /** The live entry of `key`, or why there is none. An entry past its age counts as expired. */
  find(key: string, now: number): { entry: TimedEntry } | { missing: 'expired' | 'never-recorded' } {
    const entry = this.byKey.get(key)
    if (entry && !this.isExpired(entry, now)) return { entry }
    return { missing: entry || this.evicted.has(key) ? 'expired' : 'never-recorded' }
  }

  /**
   * Adds `key` written at `now` (kept in time order even if the clock went back) and returns
   * the new entry with the stored ids to delete in the same batch: the entry it replaces and
   * the oldest ones past the bounds. Call commit/rollback once the batch's outcome is known.
   */
  add(key: string, now: number): { entry: TimedEntry; drop: TimedEntry[] } {
    const newest = this.queue.length > this.head ? this.queue.at(-1) : undefined
    const last = newest?.at ?? 0
    const entry: TimedEntry = { storeId: storeIdOf(Math.max(now, last), key), key, at: Math.max(now, last) }
    const drop: TimedEntry[] = []
    const replaced = this.byKey.get(key)
    if (replaced && replaced.storeId !== entry.storeId) drop.push(replaced)
    // Oldest first, past the age or beyond max once the new entry is in.
    let live = this.byKey.size + (replaced ? 0 : 1)
    for (let i = this.head; i < this.queue.length; i++) {
      const e = this.entry(i)
      if (e.gone || e === replaced) continue
      if (live > this.bounds.max || this.isExpired(e, now)) {
        drop.push(e)
        live--
      } else break
    }
    return { entry, drop }
  }

  /** The batch of `add` landed: the index follows it. */
  commit(added: { entry: TimedEntry; drop: TimedEntry[] }): void {
    for (const e of added.drop) this.remove(e, e.key !== added.entry.key)
    this.push(added.entry)
  }

  /** Entries expired by age or beyond the count, oldest first (for a sweep without a new entry). */
  expired(now: number): TimedEntry[] {
    const out: TimedEntry[] = []
    let live = this.byKey.size
    for (let i = this.head; i < this.queue.length; i++) {
      const e = this.entry(i)
      if (e.gone) continue
      if (live > this.bounds.max || this.isExpired(e, now)) {
        out.push(e)
        live--
      } else break
    }
    return out
  }

  /** Entries that a delete batch removed. */
  removeAll(entries: readonly TimedEntry[]): void {
    for (const e of entries) this.remove(e, true)
  }

  private isExpired(entry: TimedEntry, now: number): boolean {
    return now - entry.at >= this.bounds.retainMs
  }

  private push(entry: TimedEntry): void {
    const old = this.byKey.get(entry.key)
    if (old && old !== entry) old.gone = true
    this.byKey.set(entry.key, entry)
    this.evicted.delete(entry.key)
    this.queue.push(entry)
  }

  private remove(entry: TimedEntry, evicted: boolean): void {
    if (entry.gone) return
    entry.gone = true
    if (this.byKey.get(entry.key) === entry) this.byKey.delete(entry.key)
    if (evicted) {
      this.evicted.add(entry.key)
      // Bounded like the index: the oldest remembered evictions go first.
      if (this.evicted.size > this.bounds.max) this.evicted.delete(this.evicted.values().next().value as string)
    }
    while (this.queue[this.head]?.gone) this.head++ // past the end: undefined, the loop stops
    // Compact once the dropped front is as long as the live part: amortised O(1) per entry.
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head)
      this.head = 0
    }
  }
}
