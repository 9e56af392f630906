import { INITIAL_PREKEY_COUNT, MIN_PREKEY_COUNT } from '../core/baileys.js'
import { invalidArgument } from '../core/errors.js'

/**
 * The pre-key rule shared by doctor and prune.
 *
 * Baileys numbers one-time pre-keys upwards (`nextPreKeyId`) and uploads them in batches:
 * INITIAL_PREKEY_COUNT (812) when the server has none, MIN_PREKEY_COUNT (5) when it runs low;
 * `firstUnuploadedPreKeyId` is the first id not uploaded yet. A peer that starts a session takes
 * one pre-key from the server; when its first message arrives, Baileys deletes that pre-key.
 * Pre-keys handed out to peers that never wrote stay in the store forever (Baileys #2797:
 * ~100 a day). Uploads are at most INITIAL + MIN keys; assuming the server hands out its oldest
 * pre-keys first, its pool only holds keys from the last INITIAL + MIN uploaded, so a pre-key
 * more than `keep` ids below `firstUnuploadedPreKeyId` can no longer be handed out and no future
 * message can reference it. `keep` defaults to twice that window, for margin. Were the server
 * to hand out an older key anyway, the contact's first message fails to decrypt once and
 * Baileys' retry receipt re-establishes the session: recoverable, never silent data loss.
 */
export const MIN_KEEP = INITIAL_PREKEY_COUNT + MIN_PREKEY_COUNT
export const DEFAULT_KEEP = 2 * INITIAL_PREKEY_COUNT

export interface PreKeyCounters {
  nextPreKeyId: number
  firstUnuploadedPreKeyId: number
}

export function checkKeep(keep: number | undefined): number {
  const k = keep ?? DEFAULT_KEEP
  if (!Number.isInteger(k) || k < MIN_KEEP) {
    throw invalidArgument(`keep must be an integer of at least ${MIN_KEEP} (the most pre-keys the WhatsApp server can still hold); got ${String(keep)}.`)
  }
  return k
}

/** Pre-keys with a numeric id below this are stale (never usable again). */
export const staleBelow = (creds: PreKeyCounters, keep = DEFAULT_KEEP): number => creds.firstUnuploadedPreKeyId - keep

/** A pre-key id as Baileys writes it: a positive integer in decimal. */
export function preKeyNumber(id: string): number | undefined {
  return /^[1-9][0-9]{0,9}$/.test(id) ? Number(id) : undefined
}
