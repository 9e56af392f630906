import { requireFromBaileys } from '../core/baileys.js'

/**
 * libsignal, as Baileys itself loads it. It is Baileys' dependency, not ours: resolve it from
 * Baileys' own location first (works with strict layouts such as pnpm), then from here.
 * Only pure functions are used: signature checks and session-record parsing.
 */
interface Curve {
  verifySignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean
}
interface SessionRecordClass {
  deserialize(data: unknown): { getSessions?(): unknown[] }
}

let loaded: { curve: Curve; SessionRecord: SessionRecordClass } | undefined

function libsignal() {
  if (loaded) return loaded
  const req = requireFromBaileys
  loaded = { curve: req('libsignal/src/curve.js'), SessionRecord: req('libsignal/src/session_record.js') }
  return loaded
}

const KEY_BUNDLE_TYPE = 5

/** Baileys keeps 32-byte Curve25519 public keys; libsignal wants them with the 0x05 type byte. */
export const signalPublicKey = (key: Uint8Array): Buffer =>
  key.length === 33 && key[0] === KEY_BUNDLE_TYPE ? Buffer.from(key) : Buffer.concat([Buffer.from([KEY_BUNDLE_TYPE]), key])

/**
 * XEdDSA signature check with libsignal's `verifySignature`, which returns a boolean. (Baileys'
 * `Curve.verify` wraps it and only catches exceptions, so it returns true for a bad signature.)
 * Malformed inputs (wrong lengths) are a failed check, not an exception.
 */
export function verifySignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 && publicKey.length !== 33) return false
  if (signature.length !== 64) return false
  try {
    return libsignal().curve.verifySignature(signalPublicKey(publicKey), Buffer.from(message), Buffer.from(signature)) === true
  } catch {
    return false
  }
}

/** Parses a stored `session` value the way Baileys' Signal repository does; throws if it cannot. */
export function parseSessionRecord(value: unknown): void {
  libsignal().SessionRecord.deserialize(value)
}
