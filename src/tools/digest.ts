import { createHash } from 'node:crypto'
import { toBufferJson } from '../codec/buffer-json.js'

/**
 * A canonical digest of a decoded value: what Baileys would read, independent of how a store
 * wraps it (bare JSON in a Baileys folder, the vault envelope in SQLite, a sealed envelope).
 * Object keys are sorted so two stores that keep the same data in a different key order agree;
 * bytes (Buffer or Uint8Array) are encoded by BufferJSON, as everywhere else.
 */
export function valueDigest(value: unknown): string {
  return createHash('sha256')
    .update(toBufferJson(canonical(value)))
    .digest('base64url')
}

function canonical(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value
  if (value instanceof Uint8Array) return value
  if (Array.isArray(value)) return value.map(canonical)
  // Protobuf messages and Longs define toJSON: canonicalise what JSON.stringify would see.
  const toJSON = (value as { toJSON?: () => unknown }).toJSON
  if (typeof toJSON === 'function') {
    const json = toJSON.call(value)
    if (json !== value) return canonical(json)
  }
  if ((value as { type?: unknown }).type === 'Buffer') return value
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value).sort()) {
    const v = (value as Record<string, unknown>)[key]
    if (v !== undefined) out[key] = canonical(v)
  }
  return out
}
