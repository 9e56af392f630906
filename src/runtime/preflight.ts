/**
 * The fast check before a session connects (doctor's creds checks, not its full key scan):
 * damaged creds stop the session with CORRUPT_DATA instead of silently linking a new device, and
 * the one safe repair is applied (pre-key counters behind the stored pre-keys).
 */
import type { AuthenticationCreds } from '../core/baileys.js'
import { VaultError, isVaultError } from '../core/errors.js'
import type { Store } from '../store/store.js'
import { checkCreds, isLinked } from '../tools/creds-check.js'
import { preKeyNumber } from '../tools/prekeys.js'

export interface PreKeyRepair {
  /** nextPreKeyId before and after. */
  from: number
  to: number
  /** Stored pre-keys at ids ≥ the old nextPreKeyId. */
  ahead: number
}

export type PreflightResult = { ok: true; linked: boolean; repair?: PreKeyRepair } | { ok: false; error: VaultError }

export interface PreflightOptions {
  /** Advance the pre-key counters past stored pre-keys (see repairPreKeyCounters). Default true. */
  repairPreKeys?: boolean
}

/**
 * A pairing code was requested (Baileys then sets `me` and `pairingCode`) but the phone never
 * confirmed it: the device is not linked, so it links again rather than counting as damaged.
 */
export const isUnfinishedPairing = (creds: AuthenticationCreds): boolean => !!creds.pairingCode && !creds.account && creds.registered !== true

/** Reads and checks the creds of `sessionId`; damaged creds give `{ ok: false }` (CORRUPT_DATA). */
export async function preflight(store: Store, sessionId: string, options: PreflightOptions = {}): Promise<PreflightResult> {
  let creds: AuthenticationCreds | undefined
  try {
    creds = await store.readCreds(sessionId)
  } catch (err) {
    // An unreachable backend is not damage: the caller decides (startSession rejects).
    if (!isVaultError(err) || err.code === 'BACKEND_UNAVAILABLE') throw err
    // A key problem is not damage: its message says which key to set, and a backup would not help.
    if (err.code === 'DECRYPT_FAILED') {
      return {
        ok: false,
        error: new VaultError('DECRYPT_FAILED', `Session "${sessionId}" is not connecting, so no new device is linked over its creds. ${err.message}`, {
          cause: err
        })
      }
    }
    return {
      ok: false,
      error: new VaultError(
        'CORRUPT_DATA',
        `The creds of session "${sessionId}" cannot be read (${err.code}); not connecting, so no new device is linked over them. Run \`baileys-vault doctor\`, then restore the creds from a backup.`,
        { cause: err }
      )
    }
  }
  if (!creds) return { ok: true, linked: false }
  if (isUnfinishedPairing(creds)) return { ok: true, linked: false }
  // Signatures are doctor's job: three pure-JS XEdDSA verifies would cost more CPU per session
  // than its whole connect, and a bad one means a mixed-up restore, never a new QR.
  const errors = checkCreds(creds, { signatures: false }).filter(f => f.severity === 'error')
  if (errors.length > 0) {
    const codes = errors.map(f => f.code).join(', ')
    return {
      ok: false,
      error: new VaultError(
        'CORRUPT_DATA',
        `The creds of session "${sessionId}" are damaged (${codes}); not connecting, and nothing was overwritten. Run \`baileys-vault doctor\` for details, then restore the creds from a backup.`
      )
    }
  }
  const repair = options.repairPreKeys === false ? undefined : await repairPreKeyCounters(store, sessionId, creds)
  return { ok: true, linked: isLinked(creds), repair }
}

/**
 * Baileys commits new pre-keys (one keys.set) before it saves the creds that advance
 * nextPreKeyId. A crash between the two leaves pre-keys at ids ≥ nextPreKeyId, possibly already
 * uploaded and handed out; the next upload would overwrite them and the contact's first message
 * would fail with "Invalid PreKey ID". Advancing both counters past the highest stored id keeps
 * them: Baileys treats them as uploaded and numbers new ones after them.
 */
export async function repairPreKeyCounters(store: Store, sessionId: string, creds: AuthenticationCreds): Promise<PreKeyRepair | undefined> {
  if (!(await preKeysAtCounter(store, sessionId, creds.nextPreKeyId))) return undefined
  let highest = 0
  let ahead = 0
  for await (const [, id] of store.listKeys(sessionId, 'pre-key')) {
    const n = preKeyNumber(id)
    if (n === undefined) continue
    if (n > highest) highest = n
    if (n >= creds.nextPreKeyId) ahead++
  }
  if (ahead === 0) return undefined
  const from = creds.nextPreKeyId
  const to = highest + 1
  await store.write(sessionId, { creds: { ...creds, nextPreKeyId: to, firstUnuploadedPreKeyId: Math.max(creds.firstUnuploadedPreKeyId, to) } })
  return { from, to, ahead }
}

/** Ids probed at the counter before any full scan of the session's pre-keys. */
const PROBE_IDS = 16

/**
 * Baileys numbers every new batch of pre-keys from `nextPreKeyId`, so the crash window always
 * leaves the first ids of the batch at the counter (a few may already be consumed by contacts'
 * first messages: hence a small window, not one id). One indexed read instead of listing every
 * pre-key of every session at each start: that listing (~800 per linked device, the sqlite
 * driver reading each value) left ~0.35 MB more RSS per session than bare Baileys (bench/runtime.ts).
 */
async function preKeysAtCounter(store: Store, sessionId: string, next: number): Promise<boolean> {
  const ids = Array.from({ length: PROBE_IDS }, (_, i) => String(next + i))
  return (await store.readRaw(sessionId, 'pre-key', ids)).size > 0
}
