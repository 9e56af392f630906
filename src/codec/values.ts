import { proto } from '../core/baileys.js'
import { VaultError, describeLocation, parseErrorCause } from '../core/errors.js'
import { UnstorableValueError, fromBufferJson, isPlainJson, toBufferJson } from './buffer-json.js'
import { bytesEnvelope, jsonEnvelope, openEnvelope } from './envelope.js'
import { isParsedJson } from './parsed-json.js'
import { keyIdOf } from './seal.js'
import type { StoredValue } from './stored-value.js'

/**
 * Exact Baileys value semantics: a value comes back as Baileys' own multi-file store would
 * return it (BufferJSON round trip), and `app-state-sync-key` goes through
 * AppStateSyncKeyData.fromObject, as Baileys does, so app-state sync never loops.
 * Sealed (encrypted) envelopes are opened by the store before they reach this codec.
 */
export function encodeValue(value: unknown, bare = false, location?: () => string): Uint8Array {
  try {
    return jsonEnvelope(toBufferJson(value), bare)
  } catch (err) {
    throw unstorable(err, location)
  }
}

/**
 * Whether the value is plain JSON (see isPlainJson): its encoding then cannot fail, and depends
 * on its own fields only. Throws INVALID_ARGUMENT exactly where encodeValue would for a leaf JSON
 * cannot hold (the auth state defers the encoding of such values, not their check).
 */
export function storesAsPlainJson(value: unknown, location: () => string): boolean {
  try {
    return isPlainJson(value)
  } catch (err) {
    throw unstorable(err, location)
  }
}

function unstorable(err: unknown, location: (() => string) | undefined): unknown {
  if (!(err instanceof UnstorableValueError) || !location) return err
  return new VaultError(
    'INVALID_ARGUMENT',
    `Cannot store ${location()}: the value contains ${err.what}, which JSON cannot hold. Nothing was written; pass plain data (objects, arrays, strings, numbers, booleans, Buffers).`
  )
}

export function decodeValue(bytes: Uint8Array, session: string, type?: string, id?: string): StoredValue {
  return decodeBody(plainBody(bytes, session, type, id), session, type, id)
}

/**
 * The BufferJSON text of a plain (unsealed) stored value, without its envelope byte. Two values
 * with byte-equal bodies decode to the same value, whatever their envelopes: the bulk tools use
 * this to copy and verify values without a parse/stringify round trip per key.
 */
export function plainBody(bytes: Uint8Array, session: string, type?: string, id?: string): Buffer {
  const envelope = openEnvelope(bytes, () => describeLocation(session, type, id))
  if (envelope.format === 'sealed') {
    throw new VaultError(
      'DECRYPT_FAILED',
      `${describeLocation(session, type, id)} is encrypted${sealedWith(envelope.body)} and no encryption key is configured. Set BAILEYS_VAULT_KEY to the store's key for the CLI (the encryption option of openStore() for the library); nothing was overwritten.`
    )
  }
  return envelope.body
}

const sealedWith = (sealed: Buffer) => (sealed.length >= 2 && sealed.length > 2 + sealed.readUInt8(1) ? ` (sealed with key "${keyIdOf(sealed)}")` : '')

const corrupt = (session: string, type: string | undefined, id: string | undefined, cause: unknown) =>
  new VaultError(
    'CORRUPT_DATA',
    `Stored value for ${describeLocation(session, type, id)} is not valid JSON (torn or damaged). Restore it from a backup; baileys-vault did not change it.`,
    { cause: parseErrorCause(cause) }
  )

/** Decodes a BufferJSON body (see plainBody) with Baileys' value semantics. */
export function decodeBody(body: Buffer, session: string, type?: string, id?: string): StoredValue {
  let value: StoredValue
  try {
    value = fromBufferJson(body.toString('utf8'))
  } catch (cause) {
    throw corrupt(session, type, id, cause)
  }
  if (type === 'app-state-sync-key' && value) {
    try {
      value = proto.Message.AppStateSyncKeyData.fromObject(value)
    } catch (cause) {
      throw new VaultError('CORRUPT_DATA', `Stored value for ${describeLocation(session, type, id)} is not an AppStateSyncKeyData.`, {
        cause: parseErrorCause(cause)
      })
    }
  }
  return value
}

/**
 * Throws CORRUPT_DATA exactly when decodeBody would, without building the decoded value: the
 * bulk tools copy a value as its text and only need to know that it reads back. Reviving
 * Buffers cannot fail, so the JSON parse is the whole check, except for types whose decoding
 * does more (app-state-sync-key).
 */
export function checkBody(body: Buffer, session: string, type?: string, id?: string): void {
  if (type === 'app-state-sync-key') {
    decodeBody(body, session, type, id)
    return
  }
  if (isParsedJson(body)) return // parsed where it was read (parsed-json.ts)
  try {
    JSON.parse(body.toString('utf8'))
  } catch (cause) {
    throw corrupt(session, type, id, cause)
  }
}

/** Stored bytes for an already-encoded BufferJSON body (the inverse of plainBody). */
export const encodeBody = (body: Uint8Array, bare = false): Uint8Array => bytesEnvelope(body, bare)

/** Creds must decode to an object; anything else is damage, never a reason to start fresh. */
export function decodeCreds(bytes: Uint8Array, session: string): StoredValue {
  const creds = decodeValue(bytes, session)
  if (typeof creds !== 'object' || creds === null || Array.isArray(creds) || !creds.noiseKey || !creds.signedIdentityKey) {
    throw new VaultError(
      'CORRUPT_DATA',
      `Creds of session "${session}" are damaged (missing noiseKey or signedIdentityKey). Restore them from a backup; baileys-vault did not overwrite them.`
    )
  }
  return creds
}
