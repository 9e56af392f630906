import { MESSAGE_TYPE } from '../store/internal-types.js'
import { parseStoreId } from '../store/timed-index.js'

/** What inspect and doctor show of the retry store: a count and ages, never a message or its text. */
export interface RetryStoreSummary {
  messages: number
  /** Age of the oldest and newest kept message (ms), from the write time in their ids. */
  oldestAgeMs?: number
  newestAgeMs?: number
}

/** Collects the retry store's summary while a tool lists a session's keys. */
export class MessageAges {
  private count = 0
  private oldest = Infinity
  private newest = -Infinity

  add(type: string, id: string): void {
    if (type !== MESSAGE_TYPE) return
    this.count++
    const at = parseStoreId(id)?.at
    if (at === undefined) return
    this.oldest = Math.min(this.oldest, at)
    this.newest = Math.max(this.newest, at)
  }

  /** Undefined when the session has no retry store entries. */
  summary(now = Date.now()): RetryStoreSummary | undefined {
    if (this.count === 0) return undefined
    const known = Number.isFinite(this.oldest)
    return {
      messages: this.count,
      oldestAgeMs: known ? Math.max(0, now - this.oldest) : undefined,
      newestAgeMs: known ? Math.max(0, now - this.newest) : undefined
    }
  }
}
