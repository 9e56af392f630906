import { createHash } from 'node:crypto'
import { decodeCheckedEntries, safeTarget } from './file-io.js'

/**
 * The bytes of one commit-log record (file-log.ts). Format 2, binary and length-prefixed, so a
 * value is copied once into the record, never base64'd inside JSON:
 *
 *   `BVL2` | body length (u32 BE) | SHA-256 of the body (32 bytes) | body
 *   body: per operation, target name length (u16 BE) | name (UTF-8) | 0 (delete) or 1 (set)
 *         | for a set: value length (u32 BE) | value
 *
 * Format 1 records (`baileys-vault log 1 <length> <sha256 hex>\n` + JSON with base64 values),
 * written by earlier versions, are still read: a log only lives until the next checkpoint, so
 * such a log exists only when a crash left it, and the next open replays it.
 */
const MAGIC = Buffer.from('BVL2', 'latin1')
const HEADER_BYTES = MAGIC.length + 4 + 32
const V1_PREFIX = Buffer.from('baileys-vault log 1 ', 'latin1')

/** One operation of a record: `value` undefined deletes `target`. */
export interface LogOp {
  target: string
  value?: Uint8Array
}

/**
 * The record of a batch, and each set value as a view into it (index-aligned with `ops`;
 * undefined for a delete): the in-memory index keeps those views, so no value is copied twice.
 */
export function encodeRecord(ops: readonly LogOp[]): { bytes: Buffer; views: Array<Uint8Array | undefined> } {
  const named = ops.map(op => ({ op, name: Buffer.from(op.target, 'utf8') }))
  let size = HEADER_BYTES
  for (const { op, name } of named) size += 2 + name.length + 1 + (op.value ? 4 + op.value.byteLength : 0)
  const bytes = Buffer.allocUnsafe(size)
  MAGIC.copy(bytes, 0)
  bytes.writeUInt32BE(size - HEADER_BYTES, MAGIC.length)
  const views: Array<Uint8Array | undefined> = []
  let at = HEADER_BYTES
  named.forEach(({ op, name }) => {
    at = bytes.writeUInt16BE(name.length, at)
    at += name.copy(bytes, at)
    at = bytes.writeUInt8(op.value ? 1 : 0, at)
    if (!op.value) return views.push(undefined)
    at = bytes.writeUInt32BE(op.value.byteLength, at)
    bytes.set(op.value, at)
    views.push(bytes.subarray(at, at + op.value.byteLength))
    at += op.value.byteLength
  })
  createHash('sha256')
    .update(bytes.subarray(HEADER_BYTES))
    .digest()
    .copy(bytes, MAGIC.length + 4)
  return { bytes, views }
}

/** The complete records of a log, in order, up to the first torn or damaged one (either format). */
export function decodeRecords(bytes: Buffer): LogOp[][] {
  const records: LogOp[][] = []
  let at = 0
  while (at < bytes.length) {
    const next = bytes.subarray(at, at + MAGIC.length).equals(MAGIC) ? decodeV2(bytes, at) : decodeV1(bytes, at)
    if (!next) break
    records.push(next.ops)
    at = next.end
  }
  return records
}

function decodeV2(bytes: Buffer, start: number): { ops: LogOp[]; end: number } | undefined {
  if (bytes.length < start + HEADER_BYTES) return undefined
  const length = bytes.readUInt32BE(start + MAGIC.length)
  const body = bytes.subarray(start + HEADER_BYTES, start + HEADER_BYTES + length)
  if (body.length !== length) return undefined
  const sum = bytes.subarray(start + MAGIC.length + 4, start + HEADER_BYTES)
  if (!createHash('sha256').update(body).digest().equals(sum)) return undefined
  const ops: LogOp[] = []
  let at = 0
  try {
    while (at < body.length) {
      const nameLength = body.readUInt16BE(at)
      const target = body.subarray(at + 2, at + 2 + nameLength).toString('utf8')
      at += 2 + nameLength
      const kind = body.readUInt8(at++)
      if (!safeTarget(target) || kind > 1) return undefined
      if (kind === 0) {
        ops.push({ target })
        continue
      }
      const valueLength = body.readUInt32BE(at)
      if (at + 4 + valueLength > body.length) return undefined
      ops.push({ target, value: body.subarray(at + 4, at + 4 + valueLength) })
      at += 4 + valueLength
    }
  } catch {
    return undefined // a length running past the body: damaged (the checksum matched, so written so)
  }
  return { ops, end: start + HEADER_BYTES + length }
}

function decodeV1(bytes: Buffer, start: number): { ops: LogOp[]; end: number } | undefined {
  if (!bytes.subarray(start, start + V1_PREFIX.length).equals(V1_PREFIX)) return undefined
  const decoded = decodeCheckedEntries(bytes, { start, header: 'baileys-vault log 1' })
  if (!decoded) return undefined
  const ops: LogOp[] = []
  for (const entry of decoded.entries) {
    const target = entry[0] as string
    if (entry.length === 1) ops.push({ target })
    else if (entry.length === 2 && typeof entry[1] === 'string') ops.push({ target, value: Buffer.from(entry[1], 'base64') })
    else return undefined
  }
  return { ops, end: decoded.end }
}
