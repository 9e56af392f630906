import { createPrivateKey, createPublicKey } from 'node:crypto'
import { bufferView } from '../core/bytes.js'

const PKCS8_X25519 = Buffer.from([48, 46, 2, 1, 0, 48, 5, 6, 3, 43, 101, 110, 4, 34, 4, 32])

/** Bytes from a Buffer/Uint8Array or a base64 string (protobuf JSON keeps bytes as base64). */
export function asBytes(value: unknown): Buffer | undefined {
  if (value instanceof Uint8Array) return bufferView(value)
  if (typeof value === 'string' && /^[A-Za-z0-9+/_-]*={0,2}$/.test(value)) return Buffer.from(value, 'base64')
  return undefined
}

/** A Curve25519 key pair as Baileys stores it: 32-byte private and public keys. */
export function isKeyPairShape(pair: unknown): pair is { private: Uint8Array; public: Uint8Array } {
  const p = pair as { private?: unknown; public?: unknown } | null
  return !!p && p.private instanceof Uint8Array && p.private.length === 32 && p.public instanceof Uint8Array && p.public.length === 32
}

/** True when `public` is the X25519 public key of `private` (a mixed-up pair breaks every session). */
export function keyPairMatches(pair: { private: Uint8Array; public: Uint8Array }): boolean {
  try {
    const key = createPrivateKey({ key: Buffer.concat([PKCS8_X25519, pair.private]), format: 'der', type: 'pkcs8' })
    const spki = createPublicKey(key).export({ format: 'der', type: 'spki' })
    return Buffer.compare(spki.subarray(spki.length - 32), Buffer.from(pair.public)) === 0
  } catch {
    return false
  }
}
