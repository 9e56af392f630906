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

/** One key the target must hold, as the source has it. */
export interface ExpectedKey {
  type: string
  id: string
  /** The decoded source value (called only when the cheaper checks below cannot decide). */
  value?: () => unknown
  /**
   * What the target is expected to have stored. Identical target bytes are decoded through the
   * target's codec (the fast path between stores of the same kind), unless `readable`.
   */
  bytes?: Uint8Array
  /**
   * `bytes` are known to decode: the caller produced them with the target's codec from a value
   * it parsed (migrate's check of each batch it wrote). Identical target bytes are then the whole
   * check, without unsealing or parsing them again.
   */
  readable?: boolean
  /**
   * The source value's BufferJSON text (codec.body): a target value with a byte-equal text decodes
   * to the same value, so between stores of different kinds (a Baileys folder and SQLite, plain
   * and sealed) the check is one unseal + parse of the target value instead of two decodes and
   * two canonical digests.
   */
  body?: () => Buffer
}

/**
 * Checks a copy of one session: feed it what the source holds (`add` per key, `finish` with
 * the creds); every key is read back from the target in batches and compared (bytes, text or
 * canonical digest, see ExpectedKey), then the target's key counts per type are compared with
 * the source's, so keys the source does not have, or keys lost on the way, are reported too.
 * Memory stays bounded by one batch.
 */
export class SessionVerifier {
  private readonly mismatches = new BoundedList<Mismatch>(MAX_LISTED)
  private readonly counts: Record<string, number> = {}
  /** Keys reported missing one by one, per type (the count check does not report them again). */
  private readonly missing: Record<string, number> = {}
  private verified = 0
  private batch: ExpectedKey[] = []

  constructor(
    private readonly target: Store,
    readonly session: string,
    private readonly onBatch?: (n: number) => void
  ) {}

  /** One key the target must hold (read back with the next batch). */
  async add(key: ExpectedKey): Promise<void> {
    this.counts[key.type] = (this.counts[key.type] ?? 0) + 1
    this.batch.push(key)
    if (this.batch.length >= VERIFY_BATCH) await this.flush()
  }

  /**
   * One key of the source already found equal on the target, not read again (migrate: its copy
   * was checked after its batch was written, and the source has not changed it since).
   */
  unchanged(type: string): void {
    this.counts[type] = (this.counts[type] ?? 0) + 1
    this.verified++
  }

  /** Reads back and compares the keys added so far (also done every VERIFY_BATCH keys). */
  async flush(): Promise<void> {
    if (this.batch.length === 0) return
    const { target, session, mismatches } = this
    const byType = new Map<string, ExpectedKey[]>()
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
      for (const { id, bytes: expected, readable, value: source, body: sourceBody } of list) {
        const bytes = got.get(id)
        if (!bytes) {
          mismatches.push({ type, id, reason: 'missing' })
          this.missing[type] = (this.missing[type] ?? 0) + 1
          continue
        }
        const identical = !!expected && Buffer.compare(expected, bytes) === 0
        if (identical && readable) {
          this.verified++
          continue
        }
        let value: unknown
        let body: Buffer
        try {
          // Same checks as target.decodeValue (unseal, parse), keeping the text for the fast path.
          body = target.valueBody(bytes, { session, type, id })
          value = target.decodeBody(body, { session, type, id })
        } catch (err) {
          if (!isVaultError(err)) throw err
          mismatches.push({ type, id, reason: 'unreadable', detail: err.code })
          continue
        }
        if (identical || (sourceBody && sameBody(sourceBody, body)) || (source && valueDigest(value) === valueDigest(source()))) {
          this.verified++
        } else mismatches.push({ type, id, reason: 'different' })
      }
    }
    const n = this.batch.length
    this.batch = []
    this.onBatch?.(n)
  }

  /** What was found so far (the keys added since the last flush are not checked yet). */
  get result(): VerifyResult {
    return { verified: this.verified, mismatches: this.mismatches.items, mismatchCount: this.mismatches.count }
  }

  /** `creds`: the source's creds, or undefined when the source session has none. */
  async finish(creds: unknown): Promise<VerifyResult> {
    await this.flush()
    const { target, session, mismatches } = this
    const targetCounts = await target.countKeys(session)
    for (const type of new Set([...Object.keys(targetCounts), ...Object.keys(this.counts)])) {
      const extra = (targetCounts[type] ?? 0) - (this.counts[type] ?? 0)
      if (extra > 0) mismatches.push({ type, reason: 'extra', detail: `${extra} key(s) on the target that the source does not have` })
      const lost = -extra - (this.missing[type] ?? 0)
      if (lost > 0) {
        // Keys not read back one by one (see unchanged) and absent: the count is all we know.
        mismatches.push({ type, reason: 'missing', detail: `${lost} key(s) of the source are not on the target` })
        this.verified -= lost
      }
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
    return this.result
  }
}
