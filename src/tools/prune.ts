import { VaultError } from '../core/errors.js'
import type { Store } from '../store/store.js'
import { MESSAGE_TYPE, RETRY_COUNT_TYPE } from '../store/internal-types.js'
import { checkKeep, preKeyNumber, staleBelow } from './prekeys.js'
import { progressTicker, type ProgressListener } from './progress.js'
import { withSessionLeases, type ToolLeaseOptions } from './tool-leases.js'

export interface PruneOptions extends ToolLeaseOptions {
  /** Report what would be removed; change nothing. */
  dryRun?: boolean
  /** Pre-keys kept below firstUnuploadedPreKeyId (default 1624; at least 817). See prekeys.ts. */
  keep?: number
  /** Also drop the session's retry store (sent messages kept for retries, and their resend counters). */
  messages?: boolean
  /** Keys deleted per write. Default 500. */
  batchSize?: number
  onProgress?: ProgressListener
}

export interface PruneResult {
  store: string
  session: string
  dryRun: boolean
  /** Pre-keys with an id below this were stale. */
  staleBelow: number
  removed: { 'pre-key': number; messages?: number }
  /** The lowest and highest removed ids. */
  range?: [number, number]
  /** Pre-keys left in the store. */
  remaining: number
  durationMs: number
}

/**
 * Removes what Baileys can never use again: one-time pre-keys below the uploaded window
 * (doctor's STALE_PRE_KEYS rule, prekeys.ts) that no peer consumed. Nothing else is touched.
 * Deletes in atomic batches; an interrupted prune leaves a smaller, still-valid store.
 */
export async function prune(store: Store, session: string, options: PruneOptions = {}): Promise<PruneResult> {
  const started = Date.now()
  const keep = checkKeep(options.keep)
  const batchSize = options.batchSize ?? 500
  const creds = await store.readCreds(session)
  if (!creds) {
    throw new VaultError('NOT_FOUND', `Session "${session}" has no creds in ${store.label}: without its pre-key counters nothing can be pruned safely.`)
  }
  if (!Number.isInteger(creds.firstUnuploadedPreKeyId) || !Number.isInteger(creds.nextPreKeyId) || creds.firstUnuploadedPreKeyId > creds.nextPreKeyId) {
    throw new VaultError(
      'CORRUPT_DATA',
      `The pre-key counters in the creds of session "${session}" are not consistent; run baileys-vault doctor first. Nothing was pruned.`
    )
  }
  const below = staleBelow(creds, keep)
  const ticker = progressTicker(options.onProgress, 'prune')
  let removed = 0
  let remaining = 0
  let low = Infinity
  let high = -Infinity
  let batch: Array<[string, string]> = []
  // Collect first, delete after: deleting while a driver pages through the same keys could skip some.
  const doomed: string[] = []
  for await (const [, id] of store.listKeys(session, 'pre-key')) {
    const n = preKeyNumber(id)
    if (n !== undefined && n < below) {
      doomed.push(id)
      low = Math.min(low, n)
      high = Math.max(high, n)
    } else remaining++
  }
  const messages: Array<[string, string]> = []
  if (options.messages) for (const type of [MESSAGE_TYPE, RETRY_COUNT_TYPE]) for await (const [, id] of store.listKeys(session, type)) messages.push([type, id])
  // A dry run writes nothing, so it needs no lease; a real one fails with LEASE_HELD against a live bot.
  const write = async (epochOf: (session: string) => number | undefined) => {
    for (const id of doomed) {
      batch.push(['pre-key', id])
      if (batch.length >= batchSize) {
        if (!options.dryRun) await store.write(session, { del: batch, epoch: epochOf(session) })
        removed += batch.length
        ticker.add(batch.length, session)
        batch = []
      }
    }
    if (batch.length > 0) {
      if (!options.dryRun) await store.write(session, { del: batch, epoch: epochOf(session) })
      removed += batch.length
      ticker.add(batch.length, session, true)
    }
    for (let i = 0; i < messages.length; i += batchSize) {
      if (!options.dryRun) await store.write(session, { del: messages.slice(i, i + batchSize), epoch: epochOf(session) })
    }
  }
  if (options.dryRun) await write(() => undefined)
  else await withSessionLeases(store, [session], options, write)
  return {
    store: store.label,
    session,
    dryRun: !!options.dryRun,
    staleBelow: below,
    removed: options.messages ? { 'pre-key': removed, messages: messages.filter(([t]) => t === MESSAGE_TYPE).length } : { 'pre-key': removed },
    range: removed > 0 ? [low, high] : undefined,
    remaining,
    durationMs: Date.now() - started
  }
}
