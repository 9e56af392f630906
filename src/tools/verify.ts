import { isVaultError } from '../core/errors.js'
import type { Store } from '../store/store.js'
import { valueDigest } from './digest.js'
import { BoundedList } from './sessions.js'

export type MismatchReason = 'missing' | 'different' | 'unreadable' | 'extra'

/** One key (or creds, with type 'creds') whose copy on the target does not match the source. */
export interface Mismatch {
  type: string
  /** Absent for creds and for 'extra' (which counts keys per type). */
  id?: string
  reason: MismatchReason
  detail?: string
}

export interface VerifyResult {
  /** Keys (and creds) compared and found equal. */
  verified: number
  /** At most MAX_LISTED mismatches; `mismatchCount` has the full number. */
  mismatches: Mismatch[]
  mismatchCount: number
}

/** The source text equals the target's (a source that cannot be opened falls back to the digests). */
function sameBody(sourceBody: () => Buffer, body: Buffer): boolean {
  try {
    return Buffer.compare(sourceBody(), body) === 0
  } catch {
    return false
  }
}

export const MAX_LISTED = 100
export const VERIFY_BATCH = 500

/**
 * Checks a copy of one session: feed it what the source holds (`add` per key, `finish` with
 * the creds); every key is read back from the target in batches and compared by canonical
 * digest, then the target's key counts per type are compared with the source's, so keys the
 * source does not have are reported too. Memory stays bounded by one batch.
 */
export class SessionVerifier {
  private readonly mismatches = new BoundedList<Mismatch>(MAX_LISTED)
  private readonly counts: Record<string, number> = {}
  private verified = 0
  private batch: Array<{ type: string; id: string; bytes?: Uint8Array; value: () => unknown; body?: () => Buffer }> = []

  constructor(
    private readonly target: Store,
    readonly session: string,
    private readonly onBatch?: (n: number) => void
  ) {}

  /**
   * One key the target must hold. `value` gives the decoded source value (called only when
   * needed); `bytes`, when given, are what the target is expected to have stored: if the
   * target's bytes are identical, decoding them through the target's codec is the whole check
   * (the fast path between stores of the same kind); otherwise the canonical digests of the two
   * decoded values are compared. `body`, when given, is the source value's BufferJSON text
   * (codec.body): a target value with a byte-equal text decodes to the same value, so between
   * stores of different kinds (a Baileys folder and SQLite, plain and sealed) the check is one
   * unseal + parse of the target value instead of two decodes and two canonical digests.
   */
  async add(type: string, id: string, value: () => unknown, bytes?: Uint8Array, body?: () => Buffer): Promise<void> {
    this.counts[type] = (this.counts[type] ?? 0) + 1
    this.batch.push({ type, id, bytes, value, body })
    if (this.batch.length >= VERIFY_BATCH) await this.flush()
  }
  /** `creds`: the source's creds, or undefined when the source session has none. */
  async finish(creds: unknown): Promise<VerifyResult> {
    await this.flush()
    const { target, session, mismatches } = this
    const targetCounts: Record<string, number> = {}
    for await (const [type] of target.listKeys(session)) targetCounts[type] = (targetCounts[type] ?? 0) + 1
    for (const [type, n] of Object.entries(targetCounts)) {
      const extra = n - (this.counts[type] ?? 0)
      if (extra > 0) mismatches.push({ type, reason: 'extra', detail: `${extra} key(s) on the target that the source does not have` })
    }
    if (creds !== undefined) {
      try {
        const got = await target.readCreds(session)
        if (got === undefined) mismatches.push({ type: 'creds', reason: 'missing' })
        else if (valueDigest(got) !== valueDigest(creds)) mismatches.push({ type: 'creds', reason: 'different' })
        else this.verified++
      } catch (err) {
        if (!isVaultError(err) || err.code === 'BACKEND_UNAVAILABLE') throw err
        mismatches.push({ type: 'creds', reason: 'unreadable', detail: err.code })
      }
    }
    return { verified: this.verified, mismatches: mismatches.items, mismatchCount: mismatches.count }
  }

  private async flush(): Promise<void> {
    if (this.batch.length === 0) return
    const { target, session, mismatches } = this
    const byType = new Map<string, typeof this.batch>()
    for (const entry of this.batch) {
      let list = byType.get(entry.type)
      if (!list) byType.set(entry.type, (list = []))
      list.push(entry)
    }
    for (const [type, list] of byType) {
      const got = await target.readRaw(
        session,
        type,
        list.map(e => e.id)
      )
      for (const { id, bytes: expected, value: source, body: sourceBody } of list) {
        const bytes = got.get(id)
        if (!bytes) {
          mismatches.push({ type, id, reason: 'missing' })
          continue
        }
        let value: unknown
        let body: Buffer
        try {
          // Same checks as target.codec.decode (unseal, parse), keeping the text for the fast path.
          body = target.codec.body(bytes, session, type, id)
          value = target.codec.decodeBody(body, session, type, id)
        } catch (err) {
          if (!isVaultError(err)) throw err
          mismatches.push({ type, id, reason: 'unreadable', detail: err.code })
          continue
        }
        if ((expected && Buffer.compare(expected, bytes) === 0) || (sourceBody && sameBody(sourceBody, body)) || valueDigest(value) === valueDigest(source())) {
          this.verified++
        } else mismatches.push({ type, id, reason: 'different' })
      }
    }
    const n = this.batch.length
    this.batch = []
    this.onBatch?.(n)
  }
}
