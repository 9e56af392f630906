import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto'
import { VaultError, invalidArgument } from '../core/errors.js'
import { FORMAT_SEALED } from './envelope.js'
import { bufferView } from '../core/bytes.js'

/**
 * Encryption at rest: AES-256-GCM, a fresh random 96-bit nonce per write, the key id in the
 * envelope (so old keys keep working during a rotation) and the value's location bound as
 * associated data, so a value copied to another id or session fails to open.
 *
 *   0x10 | keyIdLength (1) | keyId (utf8) | nonce (12) | tag (16) | ciphertext
 *
 * The plaintext is the ordinary envelope (format byte + BufferJSON), so opening a sealed value
 * yields exactly what an unencrypted store would hold.
 */
export interface EncryptionOptions {
  /** Key id → 32-byte key (Buffer/Uint8Array, or base64 text). */
  keys: Record<string, Uint8Array | string>
  /** Id of the key new writes are sealed with. */
  current: string
}

export interface Sealer {
  readonly currentKeyId: string
  seal(plain: Uint8Array, aad: string): Uint8Array
  open(sealed: Uint8Array, aad: string, where: string): Buffer
  /**
   * Whether the key an envelope names is the current key, an older configured key, or unknown,
   * judged by the key's bytes: a value sealed under `kab12cd34` (the id derived from a key given
   * without one) is under the current key when that key is configured as `main:<same bytes>`.
   */
  keyState(keyId: string): 'current' | 'old' | 'unknown'
}

const NONCE = 12
const TAG = 16

/** Associated data for a location: creds and keys can never be swapped for each other. */
export const locationAad = (session: string, type?: string, id?: string) =>
  type === undefined ? `baileys-vault:creds\u0000${session}` : `baileys-vault:key\u0000${session}\u0000${type}\u0000${id}`

export function keyIdOf(sealed: Uint8Array): string {
  return Buffer.from(sealed.buffer, sealed.byteOffset + 2, sealed[1]).toString('utf8')
}

function toKey(id: string, key: Uint8Array | string): Buffer {
  const bytes = typeof key === 'string' ? Buffer.from(key, 'base64') : Buffer.from(key)
  if (bytes.length !== 32)
    throw invalidArgument(`Encryption key "${id}" must be 32 bytes (base64 of 32 random bytes, e.g. \`openssl rand -base64 32\`); got ${bytes.length} bytes.`)
  return bytes
}

export function makeSealer(options: EncryptionOptions): Sealer {
  const keys = new Map<string, Buffer>()
  for (const [id, key] of Object.entries(options.keys ?? {})) {
    if (!id || Buffer.byteLength(id) > 255) throw invalidArgument('Encryption key ids must be 1 to 255 bytes long.')
    keys.set(id, toKey(id, key))
  }
  const current = keys.get(options.current)
  if (!current)
    throw invalidArgument(`encryption.current is "${options.current}", which is not one of the configured keys (${[...keys.keys()].join(', ') || 'none'}).`)
  const currentId = Buffer.from(options.current, 'utf8')
  // Keys are known by their bytes, whatever id they were given: by derived id (what a key given
  // without an id seals under), and by any envelope id a configured key was found to open.
  const byFingerprint = new Map([...keys.values()].map(key => [deriveKeyId(key), key]))
  const learned = new Map<string, Buffer>()
  const named = (keyId: string) => learned.get(keyId) ?? keys.get(keyId) ?? byFingerprint.get(keyId)

  const tryOpen = (key: Buffer, buf: Buffer, idEnd: number, aad: string): Buffer | undefined => {
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, buf.subarray(idEnd, idEnd + NONCE))
      decipher.setAAD(Buffer.from(aad, 'utf8'))
      decipher.setAuthTag(buf.subarray(idEnd + NONCE, idEnd + NONCE + TAG))
      return Buffer.concat([decipher.update(buf.subarray(idEnd + NONCE + TAG)), decipher.final()])
    } catch {
      return undefined
    }
  }

  return {
    currentKeyId: options.current,
    seal(plain, aad) {
      const nonce = randomBytes(NONCE)
      const cipher = createCipheriv('aes-256-gcm', current, nonce)
      cipher.setAAD(Buffer.from(aad, 'utf8'))
      const body = Buffer.concat([cipher.update(plain), cipher.final()])
      return Buffer.concat([Buffer.from([FORMAT_SEALED, currentId.length]), currentId, nonce, cipher.getAuthTag(), body])
    },
    open(sealed, aad, where) {
      const buf = bufferView(sealed)
      const idEnd = 2 + (buf[1] ?? 0)
      if (buf.length < idEnd + NONCE + TAG)
        throw new VaultError('DECRYPT_FAILED', `Encrypted value for ${where} is truncated. Restore it from a backup; nothing was overwritten.`)
      const keyId = buf.subarray(2, idEnd).toString('utf8')
      const first = named(keyId)
      const opened = first && tryOpen(first, buf, idEnd, aad)
      if (opened) return opened
      // The id may be one the key was given under before (`main:` then, none now): try each key.
      for (const key of new Set(keys.values())) {
        if (key === first) continue
        const plain = tryOpen(key, buf, idEnd, aad)
        if (plain) {
          learned.set(keyId, key)
          return plain
        }
      }
      throw new VaultError('DECRYPT_FAILED', noKeyOpens({ keyId, where, configured: [...keys.keys()], idKnown: first !== undefined }))
    },
    keyState(keyId) {
      const key = named(keyId)
      return key === undefined ? 'unknown' : key.equals(current) ? 'current' : 'old'
    }
  }
}

/** A derived id (`k` + 8 hex) names a key by its bytes: the operator can check a candidate key against it. */
const isDerivedId = (keyId: string) => /^k[0-9a-f]{8}$/.test(keyId)

/** What to do when no configured key opens a value: the message names key ids and fingerprints, never a key. */
function noKeyOpens(o: { keyId: string; where: string; configured: string[]; idKnown: boolean }): string {
  const findIt = isDerivedId(o.keyId)
    ? ` "${o.keyId}" is the fingerprint of the key it needs: for a candidate key, \`echo -n "$KEY" | base64 -d | sha256sum | cut -c1-8\` prints the 8 hex digits after the "k".`
    : ` It was sealed when a key was configured with the id "${o.keyId}" (BAILEYS_VAULT_KEY=${o.keyId}:<base64>); find that key where the store's key was kept.`
  const give = "Set BAILEYS_VAULT_KEY to that key (the previous one in BAILEYS_VAULT_OLD_KEYS during a rotation), or add it to the encryption option's keys."
  const head = o.idKnown
    ? `Value for ${o.where} does not open with the configured key "${o.keyId}" or any other configured key (${o.configured.join(', ')}): the key does not match (or the bytes were tampered with or moved from another location).`
    : `Value for ${o.where} is sealed with key "${o.keyId}", which is not configured: none of the configured keys (${o.configured.join(', ')}) opens it.`
  return `${head}${findIt} ${give} Nothing was overwritten.`
}

/** Key id derived from the key itself, for keys given without an id (BAILEYS_VAULT_KEY). */
export const deriveKeyId = (key: Uint8Array | string): string =>
  `k${createHash('sha256')
    .update(typeof key === 'string' ? Buffer.from(key, 'base64') : key)
    .digest('hex')
    .slice(0, 8)}`

/**
 * Reads `BAILEYS_VAULT_KEY` (`<base64>` or `<id>:<base64>`) and, for rotations,
 * `BAILEYS_VAULT_OLD_KEYS` (comma-separated, same forms). Undefined when no key is set.
 */
export function encryptionFromEnv(env: NodeJS.ProcessEnv): EncryptionOptions | undefined {
  const current = env.BAILEYS_VAULT_KEY?.trim()
  if (!current) return undefined
  const parse = (text: string): [string, string] => {
    const colon = text.indexOf(':')
    return colon > 0 ? [text.slice(0, colon), text.slice(colon + 1)] : [deriveKeyId(text), text]
  }
  const [currentId, currentKey] = parse(current)
  const keys: Record<string, string> = { [currentId]: currentKey }
  for (const old of (env.BAILEYS_VAULT_OLD_KEYS ?? '')
    .split(',')
    .map(s => s.trim())
    .filter(Boolean)) {
    const [id, key] = parse(old)
    keys[id] = key
  }
  return { keys, current: currentId }
}
