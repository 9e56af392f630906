import { VaultError } from '../core/errors.js'
import { bufferView } from '../core/bytes.js'

/**
 * Stored bytes start with a format byte below 0x20, so they can never be confused with
 * bare JSON text (which starts with a printable character). Formats:
 *   0x01  BufferJSON text (UTF-8) after the byte
 *   0x10  AES-256-GCM sealed envelope (see codec/seal.ts)
 *   bare  BufferJSON text with no format byte: Baileys' multi-file layout, legacy imports
 * An unknown byte from 0x02 to 0x1f is a newer format this version cannot read; 0x00 is damage.
 */
export const FORMAT_JSON = 0x01
export const FORMAT_SEALED = 0x10

export type Envelope = { format: 'json' | 'bare'; body: Buffer } | { format: 'sealed'; body: Buffer }

/** `where` names the value's location for error messages; called only when there is an error. */
export function openEnvelope(bytes: Uint8Array, where: () => string): Envelope {
  const buf = bufferView(bytes)
  if (buf.length === 0) throw new VaultError('CORRUPT_DATA', `Stored value for ${where()} is empty. Restore it from a backup or delete it.`)
  const first = buf.readUInt8(0) // not empty: checked just above
  if (first >= 0x20) return { format: 'bare', body: buf }
  if (first === FORMAT_JSON) return { format: 'json', body: buf.subarray(1) }
  if (first === FORMAT_SEALED) return { format: 'sealed', body: buf }
  // No format is 0x00: a leading zero byte is damage (zeroed blocks after a disk or file-system crash).
  if (first === 0x00)
    throw new VaultError(
      'CORRUPT_DATA',
      `Stored value for ${where()} starts with a zero byte: it is damaged, not a newer format. Restore it from a backup or delete it.`
    )
  throw new VaultError(
    'UNSUPPORTED_FORMAT',
    `Stored value for ${where()} uses format 0x${first.toString(16).padStart(2, '0')}, which this version of baileys-vault cannot read. Upgrade baileys-vault.`
  )
}

/** Stored bytes for BufferJSON text: the format byte, unless the driver keeps bare JSON. */
export function jsonEnvelope(text: string, bare: boolean): Uint8Array {
  if (bare) return Buffer.from(text, 'utf8')
  const body = Buffer.allocUnsafe(1 + Buffer.byteLength(text))
  body[0] = FORMAT_JSON
  body.write(text, 1, 'utf8')
  return body
}

/** Like jsonEnvelope, for text already encoded as UTF-8 bytes (the bulk tools' copy path). */
export function bytesEnvelope(body: Uint8Array, bare: boolean): Uint8Array {
  if (bare) return Buffer.from(body)
  const out = Buffer.allocUnsafe(1 + body.byteLength)
  out[0] = FORMAT_JSON
  out.set(body, 1)
  return out
}
