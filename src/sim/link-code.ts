/**
 * The primary (phone) side of pairing by code, mirrored from Baileys' client: `requestPairingCode`
 * and `generatePairingKey` (socket.js), the `link_code_companion_reg` notification handler and
 * `decipherLinkPublicKey` (messages-recv.js). Ephemeral keys travel wrapped with a key derived
 * from the 8-character code (PBKDF2, AES-256-CTR); the companion answers with its identity key
 * bundle under AES-GCM, from which both sides derive the ADV secret that signs pair-success.
 */
import { randomBytes } from 'node:crypto'
import { aesDecryptCTR, aesDecryptGCM, aesEncryptCTR, Curve, derivePairingCodeKey, hkdf, type KeyPair } from '../core/baileys.js'

const SALT_BYTES = 32
const CTR_IV_BYTES = 16
const GCM_IV_BYTES = 12
const KEY_BYTES = 32
const BUNDLE_INFO = 'link_code_pairing_key_bundle_encryption_key'
const ADV_INFO = 'adv_secret'

/** What the companion sent in its `companion_hello` IQ. */
export interface CodeRequest {
  /** The number the companion asked to link to, as '15550009999@s.whatsapp.net'. */
  jid: string
  /** salt(32) ‖ iv(16) ‖ AES-CTR(companion ephemeral public key). */
  wrappedEphemeral: Buffer
  /** The ref the server handed out for this request; the companion echoes it in companion_finish. */
  ref: string
}

/** The companion's ephemeral public key, as the code unwraps it (a wrong code gives other bytes). */
export async function unwrapEphemeral(code: string, wrapped: Buffer): Promise<Buffer | undefined> {
  if (wrapped.length !== SALT_BYTES + CTR_IV_BYTES + KEY_BYTES) return undefined
  const salt = wrapped.subarray(0, SALT_BYTES)
  const iv = wrapped.subarray(SALT_BYTES, SALT_BYTES + CTR_IV_BYTES)
  const key = aesDecryptCTR(wrapped.subarray(SALT_BYTES + CTR_IV_BYTES), await derivePairingCodeKey(code, salt), iv)
  // CTR has no tag, but a Curve25519 public key is below 2^255: a set top bit proves a wrong code
  // without bothering the companion (half of all wrong codes end here).
  return key.readUInt8(KEY_BYTES - 1) & 0x80 ? undefined : key
}

/** The phone's ephemeral public key wrapped with the code, as `decipherLinkPublicKey` reads it. */
export async function wrapEphemeral(code: string, publicKey: Uint8Array): Promise<Buffer> {
  const salt = randomBytes(SALT_BYTES)
  const iv = randomBytes(CTR_IV_BYTES)
  return Buffer.concat([salt, iv, aesEncryptCTR(publicKey, await derivePairingCodeKey(code, salt), iv)])
}

/**
 * Opens the companion's `link_code_pairing_wrapped_key_bundle` (salt ‖ iv ‖ AES-GCM(companion
 * identity ‖ primary identity ‖ random)) and derives the ADV secret the companion derived.
 * Throws when the bundle does not open: the companion used a different code.
 */
export function openKeyBundle(options: { bundle: Buffer; phoneEphemeral: KeyPair; companionEphemeral: Buffer; accountKey: KeyPair }): {
  companionIdentity: Buffer
  advSecret: Buffer
} {
  const { bundle, phoneEphemeral, companionEphemeral, accountKey } = options
  const shared = Curve.sharedKey(phoneEphemeral.private, companionEphemeral)
  const salt = bundle.subarray(0, SALT_BYTES)
  const iv = bundle.subarray(SALT_BYTES, SALT_BYTES + GCM_IV_BYTES)
  const key = Buffer.from(hkdf(shared, KEY_BYTES, { salt, info: BUNDLE_INFO }))
  const plain = aesDecryptGCM(bundle.subarray(SALT_BYTES + GCM_IV_BYTES), key, iv, Buffer.alloc(0))
  if (plain.length !== 3 * KEY_BYTES) throw new Error('key bundle of the wrong size')
  const companionIdentity = plain.subarray(0, KEY_BYTES)
  if (!plain.subarray(KEY_BYTES, 2 * KEY_BYTES).equals(Buffer.from(accountKey.public))) throw new Error('key bundle names another primary')
  const random = plain.subarray(2 * KEY_BYTES)
  const identityShared = Curve.sharedKey(accountKey.private, companionIdentity)
  const advSecret = Buffer.from(hkdf(Buffer.concat([shared, identityShared, random]), KEY_BYTES, { info: ADV_INFO }))
  return { companionIdentity: Buffer.from(companionIdentity), advSecret }
}
