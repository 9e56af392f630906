import { decodeBody, decodeCreds, decodeValue, encodeBody, encodeValue, plainBody } from '../codec/values.js'
import { FORMAT_SEALED } from '../codec/envelope.js'
import { keyIdOf, locationAad, makeSealer, type EncryptionOptions } from '../codec/seal.js'
import { describeLocation } from '../core/errors.js'
import type { StoredValue } from '../codec/stored-value.js'

/**
 * What the store layer uses to turn Baileys values into stored bytes and back. The plain
 * codec is the default; encryption at rest wraps it (same interface), so nothing above
 * the store knows whether values are sealed.
 */
export interface ValueCodec {
  encode(value: unknown, session: string, type?: string, id?: string): Uint8Array
  decode(bytes: Uint8Array, session: string, type?: string, id?: string): StoredValue
  decodeCreds(bytes: Uint8Array, session: string): StoredValue
  /**
   * Bulk-tool fast path (migrate, verify): `body` opens stored bytes to their BufferJSON text
   * (unsealing if needed; same errors as decode), `decodeBody` parses such a text, and
   * `encodeBody` stores a text as this codec would store the value it encodes. A value copied as
   * `to.encodeBody(from.body(bytes))` decodes exactly as it did in the source, without a
   * parse/stringify per key.
   */
  body(bytes: Uint8Array, session: string, type?: string, id?: string): Buffer
  decodeBody(body: Buffer, session: string, type?: string, id?: string): StoredValue
  encodeBody(body: Uint8Array, session: string, type?: string, id?: string): Uint8Array
  /** How a stored value is protected: 'plain', or the id of the key it is sealed with. */
  protection(bytes: Uint8Array): { sealed: false } | { sealed: true; keyId: string }
  /**
   * Whether a key id names the current key, an older configured key, or none configured,
   * judged by the key's bytes (see Sealer.keyState). Always 'unknown' without encryption.
   */
  keyState(keyId: string): 'current' | 'old' | 'unknown'
  /** Id of the key new writes are sealed with; undefined without encryption. */
  readonly currentKeyId?: string
}

const protection = (bytes: Uint8Array): ReturnType<ValueCodec['protection']> =>
  bytes[0] === FORMAT_SEALED && bytes.length > 2 ? { sealed: true, keyId: keyIdOf(bytes) } : { sealed: false }

export function plainCodec(bare: boolean): ValueCodec {
  return {
    encode: (value, session, type, id) => encodeValue(value, bare, () => describeLocation(session, type, id)),
    decode: decodeValue,
    decodeCreds,
    body: plainBody,
    decodeBody,
    encodeBody: body => encodeBody(body, bare),
    protection,
    keyState: () => 'unknown'
  }
}

/**
 * Seals every write with the current key; opens values sealed with any configured key, and
 * still reads plaintext values, so encryption can be turned on for an existing store
 * (`rotate-key` then seals what is left).
 */
export function sealedCodec(options: EncryptionOptions): ValueCodec {
  const sealer = makeSealer(options)
  const open = (bytes: Uint8Array, session: string, type?: string, id?: string) =>
    bytes[0] === FORMAT_SEALED ? sealer.open(bytes, locationAad(session, type, id), describeLocation(session, type, id)) : bytes
  return {
    currentKeyId: sealer.currentKeyId,
    encode: (value, session, type, id) =>
      sealer.seal(
        encodeValue(value, false, () => describeLocation(session, type, id)),
        locationAad(session, type, id)
      ),
    decode: (bytes, session, type, id) => decodeValue(open(bytes, session, type, id), session, type, id),
    decodeCreds: (bytes, session) => decodeCreds(open(bytes, session), session),
    body: (bytes, session, type, id) => plainBody(open(bytes, session, type, id), session, type, id),
    decodeBody,
    encodeBody: (body, session, type, id) => sealer.seal(encodeBody(body), locationAad(session, type, id)),
    protection,
    keyState: keyId => sealer.keyState(keyId)
  }
}
