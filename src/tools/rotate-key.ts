import { invalidArgument } from '../core/errors.js'
import type { Store } from '../store/store.js'
import { progressTicker, type ProgressListener } from './progress.js'
import { selectSessions } from './sessions.js'
import { withSessionLeases, type ToolLeaseOptions } from './tool-leases.js'

export interface EncryptionStatus {
  /** Values (keys + creds) with no encryption. */
  plaintext: number
  /** Values sealed, by key id. */
  sealedBy: Record<string, number>
}

export interface RotateKeyOptions extends ToolLeaseOptions {
  sessions?: readonly string[]
  /** Values per atomic write. Default 500. */
  batchSize?: number
  onProgress?: ProgressListener
}

export interface RotateKeyResult {
  store: string
  currentKeyId: string
  sessions: Array<{ session: string; resealed: number; alreadyCurrent: number }>
  resealed: number
  /** After the run: nothing is plaintext or under another key, so old keys can be removed. */
  complete: boolean
}

/** How the values of a session are protected (doctor reports it; rotate-key uses it to resume). */
export async function encryptionStatus(store: Store, session: string): Promise<EncryptionStatus> {
  const status: EncryptionStatus = { plaintext: 0, sealedBy: {} }
  const count = (bytes: Uint8Array) => {
    const p = store.protectionOf(bytes)
    if (p.sealed) status.sealedBy[p.keyId] = (status.sealedBy[p.keyId] ?? 0) + 1
    else status.plaintext++
  }
  const creds = await store.readRawCreds(session)
  if (creds) count(creds)
  for await (const [, , bytes] of store.listRaw(session)) count(bytes)
  return status
}

/**
 * Re-seals every value and the creds that are plaintext or under an older key with the store's
 * current key. Idempotent, so an interrupted run is resumed by running it again: values
 * already under the current key are skipped. Stop the bot first: a value the bot writes
 * between our read and our write would be replaced by the older one.
 */
export async function rotateKey(store: Store, options: RotateKeyOptions = {}): Promise<RotateKeyResult> {
  const current = store.currentKeyId
  if (!current) throw invalidArgument('rotate-key needs the store opened with encryption (options.encryption, or BAILEYS_VAULT_KEY for the CLI).')
  const batchSize = options.batchSize ?? 500
  const isCurrent = (bytes: Uint8Array) => {
    const p = store.protectionOf(bytes)
    return p.sealed && store.keyState(p.keyId) === 'current'
  }
  const tick = progressTicker(options.onProgress, 'reseal')
  const result: RotateKeyResult = { store: store.label, currentKeyId: current, sessions: [], resealed: 0, complete: true }

  const sessions = await selectSessions(store, options.sessions)
  // The lease of every session it re-seals: a live bot makes this LEASE_HELD before any write.
  await withSessionLeases(store, sessions, options, async epochOf => {
    for (const session of sessions) {
      let resealed = 0
      let alreadyCurrent = 0
      let batch: Array<[string, string, unknown]> = []
      const flush = async () => {
        if (batch.length === 0) return
        await store.write(session, { set: batch, epoch: epochOf(session) })
        resealed += batch.length
        tick.add(batch.length, session)
        batch = []
      }
      for await (const [type, id, bytes] of store.listRaw(session)) {
        if (isCurrent(bytes)) alreadyCurrent++
        else batch.push([type, id, store.decodeValue(bytes, { session, type, id })])
        if (batch.length >= batchSize) await flush()
      }
      await flush()
      const creds = await store.readRawCreds(session)
      if (creds && !isCurrent(creds)) {
        await store.write(session, { creds: store.decodeCreds(creds, session), epoch: epochOf(session) })
        resealed++
      } else if (creds) alreadyCurrent++
      result.sessions.push({ session, resealed, alreadyCurrent })
      result.resealed += resealed
      const after = await encryptionStatus(store, session)
      if (after.plaintext > 0 || Object.keys(after.sealedBy).some(k => store.keyState(k) !== 'current')) result.complete = false
    }
  })
  tick.add(0, undefined, true)
  return result
}
