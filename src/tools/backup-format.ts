import { createHash, type Hash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import type { Readable } from 'node:stream'
import { StringDecoder } from 'node:string_decoder'
import { createGunzip } from 'node:zlib'
import { fromBufferJson, toBufferJson } from '../codec/buffer-json.js'
import { must } from '../core/defined.js'
import { VaultError, parseErrorCause } from '../core/errors.js'
import { assertKeyId, assertKeyType, assertSessionId } from '../store/validate.js'
import { openStream, readSealHeader, unwrapDataKey, type BackupKeys } from './backup-seal.js'
import type { StoredValue } from '../codec/stored-value.js'

export type { BackupKeys }

/**
 * The portable backup file (docs/backup-format.md): a gzip stream of UTF-8 JSON lines.
 *   line 1      header  {"format":"baileys-vault-backup","version":1,"createdAt":…,"sessions":[…],…}
 *   per session {"kind":"creds","session":…,"value":<creds>}        (absent if the session has none)
 *               {"kind":"key","session":…,"type":…,"id":…,"value":<value>}   one per key
 *   last line   trailer {"kind":"end","lines":<content lines>,"sessions":{<id>:{"creds":0|1,"keys":n}},"sha256":<hex>}
 * Values use Baileys' BufferJSON (bytes as {"type":"Buffer","data":<base64>}). The SHA-256 covers
 * every byte before the trailer: the header and the content lines, each with its "\n".
 * A session's lines are contiguous; the creds line comes first.
 * A sealed backup (backup-seal.ts) is this same gzip stream, encrypted: readers detect it by its
 * magic and decrypt it (authenticating every chunk) before any of these checks.
 */
export const BACKUP_FORMAT = 'baileys-vault-backup'
export const BACKUP_VERSION = 1
/** A line longer than this is damage (the largest Baileys values are a few hundred KB). */
const MAX_LINE = 64 * 1024 * 1024

export interface BackupHeader {
  format: typeof BACKUP_FORMAT
  version: number
  createdAt: string
  sessions: string[]
  /** Driver kind of the source store ('sqlite', 'file', …). */
  source: string
  /** Taken inside one consistent snapshot of the source. */
  snapshot: boolean
}

export interface SessionCounts {
  creds: number
  keys: number
}

export interface BackupTrailer {
  kind: 'end'
  lines: number
  sessions: Record<string, SessionCounts>
  sha256: string
}

export type BackupEntry =
  { kind: 'creds'; session: string; value: StoredValue } | { kind: 'key'; session: string; type: string; id: string; value: StoredValue }

export const headerLine = (header: BackupHeader): string => JSON.stringify(header) + '\n'
export const credsLine = (session: string, value: unknown): string => toBufferJson({ kind: 'creds', session, value }) + '\n'
export const keyLine = (session: string, type: string, id: string, value: unknown): string => toBufferJson({ kind: 'key', session, type, id, value }) + '\n'
export const trailerLine = (trailer: BackupTrailer): string => JSON.stringify(trailer) + '\n'

const corrupt = (file: string, what: string, cause?: unknown) =>
  new VaultError('CORRUPT_DATA', `Backup ${file} is damaged: ${what}. Nothing was restored; use another copy of the backup.`, { cause })

/** A read error as a VaultError: a missing or unreadable file, or damage. */
function readError(file: string, err: unknown): VaultError {
  if (err instanceof VaultError) return err
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ENOENT') return new VaultError('NOT_FOUND', `Backup file ${file} does not exist.`, { cause: err })
  if (code === 'EACCES' || code === 'EISDIR') return new VaultError('INVALID_ARGUMENT', `Cannot read backup file ${file} (${code}).`, { cause: err })
  return corrupt(file, `the gzip stream is truncated or damaged (${(err as Error).message})`, err)
}

/** The gzip bytes of a backup: the file itself, or, for a sealed file, its authenticated plaintext. */
async function gzipBytes(file: string, keys?: BackupKeys): Promise<Readable> {
  const sealed = await readSealHeader(file)
  if (!sealed) return createReadStream(file)
  const dataKey = unwrapDataKey(file, sealed, keys)
  const input = createReadStream(file, { start: sealed.bytes.length })
  const opened = openStream(file, sealed, dataKey)
  input.on('error', err => opened.destroy(err))
  // A reader that stops early (readBackupHeader) destroys `opened`: release the file too.
  opened.on('close', () => input.destroy())
  return input.pipe(opened)
}

/** How a backup file is protected: sealed (and with which key id), or plaintext. Reads only the header. */
export async function backupProtection(file: string): Promise<{ sealed: false } | { sealed: true; keyId: string }> {
  try {
    const header = await readSealHeader(file)
    return header ? { sealed: true, keyId: header.keyId } : { sealed: false }
  } catch (err) {
    throw readError(file, err)
  }
}

/** Decompressed lines of a backup file; gzip, decryption and read errors become VaultErrors. */
async function* lines(file: string, keys?: BackupKeys): AsyncIterable<string> {
  let input: Readable
  try {
    input = await gzipBytes(file, keys)
  } catch (err) {
    throw readError(file, err)
  }
  const gunzip = createGunzip()
  input.on('error', err => gunzip.destroy(err))
  input.pipe(gunzip)
  const decoder = new StringDecoder('utf8')
  let pending = ''
  try {
    for await (const chunk of gunzip) {
      pending += decoder.write(chunk as Buffer)
      let nl: number
      let start = 0
      while ((nl = pending.indexOf('\n', start)) !== -1) {
        yield pending.slice(start, nl)
        start = nl + 1
      }
      pending = pending.slice(start)
      if (pending.length > MAX_LINE) throw corrupt(file, `a line is longer than ${MAX_LINE} bytes`)
    }
  } catch (err) {
    throw readError(file, err)
  } finally {
    input.destroy()
  }
  pending += decoder.end()
  if (pending.length > 0) throw corrupt(file, 'the last line is incomplete (the file was truncated)')
}

/**
 * Reads a backup, checking everything as it goes: gzip integrity, JSON, the header's format
 * and version, the shape of each line, session contiguity, and at the end the trailer's counts
 * and SHA-256. The header is yielded first, then the entries. A caller that writes as it reads
 * must have read the file once completely first (restore does): damage is only certain at the end.
 */
export async function* readBackup(file: string, keys?: BackupKeys): AsyncGenerator<BackupHeader | BackupEntry, BackupTrailer> {
  let header: BackupHeader | undefined
  let trailer: BackupTrailer | undefined
  const hash: Hash = createHash('sha256')
  const counts: Record<string, SessionCounts> = {}
  const finished = new Set<string>()
  let current: string | undefined
  let lineNo = 0
  let content = 0

  for await (const line of lines(file, keys)) {
    lineNo++
    if (trailer) throw corrupt(file, `line ${lineNo} comes after the end marker`)
    if (lineNo === 1) {
      header = parseHeader(file, line)
      hash.update(line + '\n')
      yield header
      continue
    }
    if (line.startsWith('{"kind":"end"')) {
      trailer = parseJson(file, lineNo, line, JSON.parse) as BackupTrailer
      continue
    }
    hash.update(line + '\n')
    content++
    const entry = parseJson(file, lineNo, line, fromBufferJson) as BackupEntry
    checkEntry(file, lineNo, entry)
    if (entry.session !== current) {
      if (current !== undefined) finished.add(current)
      if (finished.has(entry.session)) throw corrupt(file, `line ${lineNo}: the lines of session "${entry.session}" are not contiguous`)
      if (!must(header, 'line 1 was the header').sessions.includes(entry.session))
        throw corrupt(file, `line ${lineNo}: session "${entry.session}" is not listed in the header`)
      current = entry.session
      counts[current] = { creds: 0, keys: 0 }
    }
    const sessionCounts = must(counts[entry.session], 'made when the first line of the session was read')
    if (entry.kind === 'creds') {
      if (sessionCounts.creds > 0 || sessionCounts.keys > 0) throw corrupt(file, `line ${lineNo}: creds of session "${current}" must come first, once`)
      sessionCounts.creds = 1
    } else sessionCounts.keys++
    yield entry
  }
  if (!header) throw corrupt(file, 'it is empty')
  if (!trailer) throw corrupt(file, 'the end marker is missing (the file was truncated)')
  if (trailer.sha256 !== hash.digest('hex')) throw corrupt(file, 'the SHA-256 checksum does not match the content')
  if (trailer.lines !== content) throw corrupt(file, `the end marker counts ${trailer.lines} lines, the file has ${content}`)
  for (const s of header.sessions) {
    const want = trailer.sessions?.[s] ?? { creds: 0, keys: 0 }
    const got = counts[s] ?? { creds: 0, keys: 0 }
    if (want.creds !== got.creds || want.keys !== got.keys) {
      throw corrupt(file, `session "${s}" should have ${want.keys} keys and ${want.creds} creds, the file has ${got.keys} and ${got.creds}`)
    }
  }
  return trailer
}

/** Only the header of a backup (what it holds, when it was taken); the file is not verified. */
export async function readBackupHeader(file: string, keys?: BackupKeys): Promise<BackupHeader> {
  const reader = readBackup(file, keys)
  try {
    const first = await reader.next()
    if (first.done || !('format' in first.value)) throw corrupt(file, 'it is empty')
    return first.value
  } finally {
    await reader.return(undefined as never)
  }
}

function parseHeader(file: string, line: string): BackupHeader {
  let header: BackupHeader
  try {
    header = JSON.parse(line)
  } catch (cause) {
    throw new VaultError('UNSUPPORTED_FORMAT', `${file} is not a baileys-vault backup (the first line is not JSON).`, { cause: parseErrorCause(cause) })
  }
  if (header?.format !== BACKUP_FORMAT)
    throw new VaultError('UNSUPPORTED_FORMAT', `${file} is not a baileys-vault backup (format "${String(header?.format)}").`)
  if (header.version !== BACKUP_VERSION) {
    throw new VaultError(
      'UNSUPPORTED_FORMAT',
      `Backup ${file} has format version ${String(header.version)}; this baileys-vault reads version ${BACKUP_VERSION}.${Number(header.version) > BACKUP_VERSION ? ' Upgrade baileys-vault.' : ''}`
    )
  }
  if (!Array.isArray(header.sessions) || !header.sessions.every(s => typeof s === 'string')) throw corrupt(file, 'the header has no session list')
  return header
}

function parseJson(file: string, lineNo: number, line: string, parse: (text: string) => unknown): unknown {
  try {
    return parse(line)
  } catch (cause) {
    throw corrupt(file, `line ${lineNo} is not valid JSON`, parseErrorCause(cause))
  }
}

function checkEntry(file: string, lineNo: number, entry: BackupEntry): void {
  try {
    if (entry === null || typeof entry !== 'object') throw new Error('not an object')
    assertSessionId(entry.session)
    if (entry.kind === 'creds') {
      const v = entry.value
      if (typeof v !== 'object' || v === null || !v.noiseKey || !v.signedIdentityKey) throw new Error('creds without noiseKey or signedIdentityKey')
    } else if (entry.kind === 'key') {
      assertKeyType(entry.type)
      assertKeyId(entry.type, entry.id)
      if (entry.value === null || entry.value === undefined) throw new Error('key without a value')
    } else throw new Error(`unknown line kind "${String((entry as { kind?: unknown }).kind)}"`)
  } catch (cause) {
    throw corrupt(file, `line ${lineNo}: ${(cause as Error).message}`, cause)
  }
}
