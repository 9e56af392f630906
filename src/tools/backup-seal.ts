import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto'
import { open } from 'node:fs/promises'
import { Transform, type TransformCallback } from 'node:stream'
import { FORMAT_SEALED } from '../codec/envelope.js'
import type { EncryptionOptions } from '../codec/seal.js'
import { VaultError, invalidArgument } from '../core/errors.js'
import { sealedCodec, type ValueCodec } from '../store/value-codec.js'

/**
 * Sealed backups (docs/backup-format.md, "Sealed files"): the ordinary backup file (a gzip
 * stream) encrypted with AES-256-GCM in fixed-size chunks, each with its own tag, the last one
 * flagged in its nonce, so a reader only ever sees authenticated bytes and a file cut at any
 * point (even at a chunk boundary) is refused.
 *
 *   header   magic "BVSEALED" (8) | version 1 (1) | chunk size, uint32 BE (4)
 *            | wrapped key length, uint16 BE (2) | wrapped key
 *   chunks   ciphertext (chunk size bytes; the final chunk 0..chunk size) | tag (16)
 *
 * Each file has its own random 256-bit data key. The wrapped key is that data key sealed by
 * the store codec under the current encryption key: the store's own sealed-value envelope
 * (0x10 | key id length | key id | nonce | tag | ciphertext, fresh random nonce), its
 * associated data naming the backup file key and the header fields before it. So the key id is
 * readable in the header, any key the store (or restore) has configured opens it, and the raw
 * key material never leaves the codec. Chunk i is sealed with the data key, nonce
 * 0x000000 | i (uint64 BE) | final flag (0x00, or 0x01 on the last chunk), and the whole header
 * as associated data. Nonces never repeat: the data key is fresh per file.
 */
export const SEAL_MAGIC = Buffer.from('BVSEALED', 'latin1')
export const SEAL_VERSION = 1
export const SEAL_CHUNK = 64 * 1024
const FIXED = SEAL_MAGIC.length + 1 + 4 + 2
const TAG = 16
const MAX_CHUNK = 16 * 1024 * 1024
/** Where the wrapped data key "lives" for the codec's associated data: no stored value can be there. */
const WRAP_SESSION = 'baileys-vault-backup'
const WRAP_TYPE = 'sealed-backup-file-key'

/** Keys that may open a sealed backup. */
export interface BackupKeys {
  /** Encryption options (key id → key), e.g. from BAILEYS_VAULT_KEY / BAILEYS_VAULT_OLD_KEYS. */
  encryption?: EncryptionOptions
  /** A store codec: restore passes the target store's, so its configured keys work too. */
  codec?: ValueCodec
}

export interface SealHeader {
  bytes: Buffer
  keyId: string
  chunkSize: number
}

const wrapId = (fixed: Buffer) => createHash('sha256').update(fixed).digest('hex')

function fixedPart(chunkSize: number, wrappedLength: number): Buffer {
  const fixed = Buffer.alloc(FIXED)
  SEAL_MAGIC.copy(fixed, 0)
  fixed[8] = SEAL_VERSION
  fixed.writeUInt32BE(chunkSize, 9)
  fixed.writeUInt16BE(wrappedLength, 13)
  return fixed
}

/** A new header and data key, the data key wrapped by `codec` (a store codec with encryption). */
export function newSealHeader(codec: ValueCodec, chunkSize = SEAL_CHUNK): { header: SealHeader; dataKey: Buffer } {
  if (!codec.currentKeyId) throw invalidArgument('A sealed backup needs an encryption key (the store opened with encryption, or the encryption option).')
  const dataKey = randomBytes(32)
  // The wrapped key's length is known before wrapping: the envelope has a fixed overhead.
  const probe = codec.encode(Buffer.alloc(32), WRAP_SESSION, WRAP_TYPE, 'probe')
  const fixed = fixedPart(chunkSize, probe.length)
  const wrapped = Buffer.from(codec.encode(dataKey, WRAP_SESSION, WRAP_TYPE, wrapId(fixed)))
  if (wrapped.length !== probe.length || wrapped[0] !== FORMAT_SEALED) throw new Error('unexpected wrapped key envelope')
  return { header: { bytes: Buffer.concat([fixed, wrapped]), keyId: codec.currentKeyId, chunkSize }, dataKey }
}

const nonceFor = (index: bigint, final: boolean) => {
  const nonce = Buffer.alloc(12)
  nonce.writeBigUInt64BE(index, 3)
  nonce[11] = final ? 1 : 0
  return nonce
}

/**
 * Cuts a byte stream into chunks of `size`, always holding the last bytes back: a chunk is
 * released only once more data follows it, so the final chunk (marked in its nonce) is known.
 */
class Chunker {
  private pending: Buffer[] = []
  private bytes = 0
  constructor(private readonly size: number) {}

  /** Adds data; returns the full chunks that are certainly not the last one. */
  push(data: Buffer): Buffer[] {
    this.pending.push(data)
    this.bytes += data.length
    if (this.bytes <= this.size) return []
    const out: Buffer[] = []
    let all = Buffer.concat(this.pending)
    while (all.length > this.size) {
      out.push(all.subarray(0, this.size))
      all = all.subarray(this.size)
    }
    this.pending = [all]
    this.bytes = all.length
    return out
  }

  /** What is left at the end: the final chunk (possibly empty). */
  rest(): Buffer {
    return Buffer.concat(this.pending)
  }
}

/** Plaintext bytes in → header, then sealed chunks out. */
export function sealStream(header: SealHeader, dataKey: Buffer): Transform {
  const chunks = new Chunker(header.chunkSize)
  let index = 0n
  let started = false
  const chunk = (self: Transform, plain: Buffer, final: boolean) => {
    const cipher = createCipheriv('aes-256-gcm', dataKey, nonceFor(index++, final))
    cipher.setAAD(header.bytes)
    self.push(Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]))
  }
  const start = (self: Transform) => {
    if (!started) self.push(header.bytes)
    started = true
  }
  return new Transform({
    transform(data: Buffer, _enc, done: TransformCallback) {
      start(this)
      for (const full of chunks.push(data)) chunk(this, full, false)
      done()
    },
    flush(done: TransformCallback) {
      start(this)
      chunk(this, chunks.rest(), true)
      done()
    }
  })
}

const damaged = (file: string, what: string, cause?: unknown) =>
  new VaultError('CORRUPT_DATA', `Backup ${file} is damaged: ${what}. Nothing was restored; use another copy of the backup.`, { cause })

/** Sealed chunks in (after the header) → authenticated plaintext out. */
export function openStream(file: string, header: SealHeader, dataKey: Buffer): Transform {
  const chunks = new Chunker(header.chunkSize + TAG)
  let index = 0n
  let offset = header.bytes.length
  const chunk = (self: Transform, sealed: Buffer, final: boolean) => {
    try {
      const decipher = createDecipheriv('aes-256-gcm', dataKey, nonceFor(index, final))
      decipher.setAAD(header.bytes)
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG))
      self.push(Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG)), decipher.final()]))
    } catch (cause) {
      throw damaged(
        file,
        final
          ? `the last encrypted chunk (#${index}, from byte ${offset}) does not authenticate as the end of the file: it was truncated, or bytes were changed`
          : `encrypted chunk #${index} (bytes ${offset}–${offset + sealed.length - 1}) fails authentication: bytes were changed or removed`,
        cause
      )
    }
    index++
    offset += sealed.length
  }
  return new Transform({
    transform(data: Buffer, _enc, done: TransformCallback) {
      try {
        for (const full of chunks.push(data)) chunk(this, full, false)
      } catch (err) {
        return done(err as Error)
      }
      done()
    },
    flush(done: TransformCallback) {
      const rest = chunks.rest()
      if (rest.length < TAG)
        return done(damaged(file, `the file ends ${rest.length === 0 ? 'right after the header' : 'inside an authentication tag'} (it was truncated)`))
      try {
        chunk(this, rest, true)
      } catch (err) {
        return done(err as Error)
      }
      done()
    }
  })
}

/** Reads and checks a sealed header from an open file; undefined when the file is not sealed. */
export async function readSealHeader(file: string): Promise<SealHeader | undefined> {
  const fd = await open(file, 'r')
  try {
    const fixed = Buffer.alloc(FIXED)
    const { bytesRead } = await fd.read(fixed, 0, FIXED, 0)
    if (bytesRead < SEAL_MAGIC.length || !fixed.subarray(0, SEAL_MAGIC.length).equals(SEAL_MAGIC)) return undefined
    if (bytesRead < FIXED) throw damaged(file, 'the encryption header is truncated')
    const version = fixed.readUInt8(8)
    if (version !== SEAL_VERSION) {
      throw new VaultError(
        'UNSUPPORTED_FORMAT',
        `Backup ${file} is sealed with envelope version ${version}; this baileys-vault reads version ${SEAL_VERSION}.${version > SEAL_VERSION ? ' Upgrade baileys-vault.' : ''}`
      )
    }
    const chunkSize = fixed.readUInt32BE(9)
    if (chunkSize < 1 || chunkSize > MAX_CHUNK) throw damaged(file, `the encryption header has an impossible chunk size (${chunkSize})`)
    const wrappedLength = fixed.readUInt16BE(13)
    const wrapped = Buffer.alloc(wrappedLength)
    const got = (await fd.read(wrapped, 0, wrappedLength, FIXED)).bytesRead
    if (got < wrappedLength) throw damaged(file, 'the encryption header is truncated')
    // The store's sealed envelope: 0x10 | key id length | key id | nonce (12) | tag (16) | ciphertext.
    if (wrappedLength < 2 || wrapped.readUInt8(0) !== FORMAT_SEALED || wrappedLength < 2 + wrapped.readUInt8(1) + 12 + TAG)
      throw damaged(file, 'the encryption header does not hold a sealed file key')
    const keyId = wrapped.subarray(2, 2 + wrapped.readUInt8(1)).toString('utf8')
    return { bytes: Buffer.concat([fixed, wrapped]), keyId, chunkSize }
  } finally {
    await fd.close()
  }
}

/**
 * The data key of a sealed backup, unwrapped with the first of `keys` that opens it. A key that
 * is missing or does not open the header is DECRYPT_FAILED, naming the key id (never a key).
 */
export function unwrapDataKey(file: string, header: SealHeader, keys: BackupKeys = {}): Buffer {
  const codecs: ValueCodec[] = []
  if (keys.encryption) codecs.push(sealedCodec(keys.encryption))
  if (keys.codec?.currentKeyId) codecs.push(keys.codec)
  const hint =
    'Give that key: BAILEYS_VAULT_KEY (or BAILEYS_VAULT_OLD_KEYS) for the CLI, the encryption option of restore() / verifyBackup(), or a target store opened with it. Nothing was restored.'
  if (codecs.length === 0)
    throw new VaultError('DECRYPT_FAILED', `Backup ${file} is encrypted (sealed with key "${header.keyId}") and no encryption key is configured. ${hint}`)
  const wrapped = header.bytes.subarray(FIXED)
  const id = wrapId(header.bytes.subarray(0, FIXED))
  const errors: unknown[] = []
  for (const codec of codecs) {
    try {
      const key = codec.decode(wrapped, WRAP_SESSION, WRAP_TYPE, id)
      if (Buffer.isBuffer(key) && key.length === 32) return key
      errors.push(new Error('the wrapped file key is not 32 bytes'))
    } catch (err) {
      errors.push(err)
    }
  }
  const missing = errors.every(e => /is not configured/.test((e as Error)?.message ?? ''))
  throw new VaultError(
    'DECRYPT_FAILED',
    missing
      ? `Backup ${file} is sealed with key "${header.keyId}", which is not configured (or the header naming it is damaged). ${hint}`
      : `Backup ${file} is sealed with key "${header.keyId}", and the configured key "${header.keyId}" does not open it: a different key with the same id, or a damaged header. ${hint}`,
    { cause: errors.length === 1 ? errors[0] : new AggregateError(errors) }
  )
}
