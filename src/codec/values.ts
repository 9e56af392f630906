import { proto } from '@whiskeysockets/baileys'
import { VaultError, describeLocation } from '../core/errors.js'
import { UnstorableValueError, fromBufferJson, toBufferJson } from './buffer-json.js'
import { bytesEnvelope, jsonEnvelope, openEnvelope } from './envelope.js'
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
    if (!(err instanceof UnstorableValueError) || !location) throw err
    throw new VaultError(
      'INVALID_ARGUMENT',
      `Cannot store ${location()}: the value contains ${err.what}, which JSON cannot hold. Nothing was written; pass plain data (objects, arrays, strings, numbers, booleans, Buffers).`
    )
  }
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
      `${describeLocation(session, type, id)} is encrypted; open the store with its encryption key (options.encryption or BAILEYS_VAULT_KEY).`
    )
  }
  return envelope.body
}

/** Decodes a BufferJSON body (see plainBody) with Baileys' value semantics. */
export function decodeBody(body: Buffer, session: string, type?: string, id?: string): StoredValue {
  let value: StoredValue
  try {
    value = fromBufferJson(body.toString('utf8'))
  } catch (cause) {
    const where = describeLocation(session, type, id)
    throw new VaultError(
      'CORRUPT_DATA',
      `Stored value for ${where} is not valid JSON (torn or damaged). Restore it from a backup; baileys-vault did not change it.`,
      { cause }
    )
  }
  if (type === 'app-state-sync-key' && value) {
    try {
      value = proto.Message.AppStateSyncKeyData.fromObject(value)
    } catch (cause) {
      throw new VaultError('CORRUPT_DATA', `Stored value for ${describeLocation(session, type, id)} is not an AppStateSyncKeyData.`, { cause })
    }
  }
  return value
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
