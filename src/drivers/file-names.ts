import { createHash } from 'node:crypto'
import { invalidArgument } from '../core/errors.js'

/**
 * File and folder names of the file: store. One concern: (session, type, id) <-> names, such
 * that every name stays inside its folder and listing gives back the exact ids.
 *
 * Key files. Baileys names a key `${type}-${id}.json` with `/`→`__` and `:`→`-` (lossy). For
 * each known Baileys type there is a fixed inverse that is right for every id Baileys produces
 * (`sender-key`: the last two `--` are `::`; `app-state-sync-key`: `__` is `/`; every other
 * type: the text is the id). A key is stored under Baileys' own name exactly when that
 * inverse gives the id back and the name is safe (≤255 bytes, no `\ < > " | ? * %`, no
 * control character). Every other key, and every key of a type Baileys does not know with a
 * `-` in it, is stored under an escaped name `${type}%${escaped id}.json` (bytes outside
 * `A-Z a-z 0-9 . _ @ + = , -` written as `%XX`), or, if that is longer than 255 bytes,
 * `${type}%~${sha256/128 of id}.json` with the exact id in `${type}%~${hash}.id` beside it.
 * A name is read back only if encoding its decoded (type, id) gives the same name, so no two
 * keys share a file and foreign files are ignored.
 *
 * Session folders. The session `default` is the root folder itself (a plain Baileys folder).
 * Any other session is a sub-folder named after it when the name is safe (no `/ \ < > : " | ?
 * * %` or control character, no leading `.`, no trailing `.` or space, not ending in `.json` or
 * `.id`, not a Windows device name, ≤255 bytes), else `%${escaped session}`, else (too long)
 * `%~${hash}` holding the exact id in `.vault-session`. Names starting with `.vault-` are the
 * driver's own (journal, temp files, trash, the types record) and are never keys or sessions.
 *
 * Whose files. A name that reads back as a key is only a candidate: `app-settings.json` reads
 * as key "settings" of type "app". The store treats a file as its own (lists, rewrites or
 * deletes it) only when its type is one of Baileys 7's ten key types, or a type recorded in the
 * folder's `.vault-types` (see file-types.ts). Every other file is foreign and never touched.
 */
export const MAX_NAME_BYTES = 255
export const DEFAULT_SESSION = 'default'
export const CREDS_FILE = 'creds.json'
export const SESSION_SIDECAR = '.vault-session'
/** Names of the driver's own bookkeeping files (journal, temps, trash, sidecar, types record). */
export const isVaultName = (name: string) => name.startsWith('.vault-')

const TYPE_PATTERN = /^[a-z][a-z0-9-]{0,63}$/
/** Baileys 7 key types (SignalDataTypeMap), longest first so `sender-key-memory-…` is never read as a `sender-key`. */
export const BAILEYS_TYPES: readonly string[] = [
  'app-state-sync-version',
  'app-state-sync-key',
  'sender-key-memory',
  'identity-key',
  'device-list',
  'lid-mapping',
  'sender-key',
  'pre-key',
  'session',
  'tctoken'
]
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f\\/<>:"|?*%]/
const SAFE_CHAR = /^[A-Za-z0-9._@+=,-]$/
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i
const HASH = /^[0-9a-f]{32}$/

const byteLength = (s: string) => Buffer.byteLength(s, 'utf8')
export const hashName = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex').slice(0, 32)

/** Baileys' fixFileName. */
const baileysFix = (s: string) => s.replace(/\//g, '__').replace(/:/g, '-')

/** The inverse of Baileys' mapping for the ids Baileys produces of each type (also the importers' mangled ids). */
export function unfix(type: string, text: string): string {
  if (type === 'app-state-sync-key') return text.replace(/__/g, '/')
  if (type === 'sender-key') {
    const m = /^(.*)--([^-]*)--([^-]*)$/.exec(text)
    if (m) return `${m[1]}::${m[2]}::${m[3]}`
  }
  return text
}

/** `%XX` for every UTF-8 byte of a character outside the safe set. */
export function escapeName(s: string): string {
  let out = ''
  for (const ch of s) {
    if (SAFE_CHAR.test(ch)) out += ch
    else for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

/** Inverse of escapeName; undefined unless `s` is exactly what escapeName produces. */
export function unescapeName(s: string): string | undefined {
  const bytes: number[] = []
  for (let i = 0; i < s.length; i++) {
    const ch = s.charAt(i)
    if (ch === '%') {
      const hex = s.slice(i + 1, i + 3)
      if (!/^[0-9A-F]{2}$/.test(hex)) return undefined
      bytes.push(parseInt(hex, 16))
      i += 2
    } else if (SAFE_CHAR.test(ch)) {
      bytes.push(ch.charCodeAt(0))
    } else {
      return undefined
    }
  }
  const text = Buffer.from(bytes).toString('utf8')
  return text.length > 0 && escapeName(text) === s ? text : undefined
}

export function assertFileType(type: unknown): asserts type is string {
  if (typeof type !== 'string' || !TYPE_PATTERN.test(type)) {
    throw invalidArgument(`Key type must look like "pre-key" or "session" (lowercase letters, digits, '-'); got ${describe(type)}.`)
  }
}

function assertText(what: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value.length === 0 || value.includes('\u0000') || LONE_SURROGATE.test(value)) {
    throw invalidArgument(`${what} must be a non-empty, well-formed Unicode string without NUL (file: store); got ${describe(value)}.`)
  }
}

const describe = (value: unknown): string => (typeof value === 'string' ? `a string of length ${value.length}` : value === null ? 'null' : typeof value)

export interface KeyFile {
  /** The value file. */
  file: string
  /** For hashed names: the file beside it that holds the exact id. */
  idFile?: string
}

/** Baileys' own name of (type, id), if that name is safe and reads back as exactly this key. */
function baileysName(type: string, id: string): string | undefined {
  const base = baileysFix(`${type}-${id}`)
  if (UNSAFE.test(base) || byteLength(base) + 5 > MAX_NAME_BYTES) return undefined
  const back = parseBaileysBase(base)
  return back && back.type === type && back.id === id ? `${base}.json` : undefined
}

function parseBaileysBase(base: string): { type: string; id: string } | undefined {
  const type = BAILEYS_TYPES.find(t => base.startsWith(`${t}-`)) ?? /^([a-z][a-z0-9]*)-/.exec(base)?.[1]
  if (!type || base.length === type.length + 1) return undefined
  return { type, id: unfix(type, base.slice(type.length + 1)) }
}

/** The one file name of a key. Throws INVALID_ARGUMENT for a type or id no folder can hold. */
export function keyFile(type: string, id: string): KeyFile {
  assertFileType(type)
  assertText(`Key id for type "${type}"`, id)
  const plain = baileysName(type, id)
  if (plain) return { file: plain }
  const escaped = `${type}%${escapeName(id)}.json`
  if (byteLength(escaped) <= MAX_NAME_BYTES) return { file: escaped }
  const hash = hashName(id)
  return { file: `${type}%~${hash}.json`, idFile: `${type}%~${hash}.id` }
}

/** What a directory entry is, as a key: its (type, id), or a hashed name whose id is in `idFile`. */
export type ParsedKeyFile = { type: string; id: string } | { type: string; idFile: string }

/** Reads a file name back; undefined for names that are not exactly the name of some key. */
export function parseKeyFile(name: string): ParsedKeyFile | undefined {
  if (!name.endsWith('.json') || name.startsWith('.')) return undefined
  const base = name.slice(0, -5)
  const pct = base.indexOf('%')
  let key: { type: string; id: string } | undefined
  if (pct >= 0) {
    const type = base.slice(0, pct)
    if (!TYPE_PATTERN.test(type)) return undefined
    const rest = base.slice(pct + 1)
    if (rest.startsWith('~')) return HASH.test(rest.slice(1)) ? { type, idFile: `${base}.id` } : undefined
    const id = unescapeName(rest)
    key = id === undefined ? undefined : { type, id }
  } else {
    key = parseBaileysBase(base)
  }
  return key && isKeyFile(name, key.type, key.id) ? key : undefined
}

/** Whether `name` is exactly the file of (type, id). */
export function isKeyFile(name: string, type: string, id: string): boolean {
  try {
    return keyFile(type, id).file === name
  } catch {
    return false
  }
}

export interface SessionFolder {
  /** Folder name under the root; undefined for the session `default` (the root itself). */
  name?: string
  /** Hashed folder name: the exact session id is kept in `.vault-session` inside it. */
  hashed?: boolean
}

function plainFolderOk(session: string): boolean {
  return (
    session !== DEFAULT_SESSION &&
    !UNSAFE.test(session) &&
    !session.startsWith('.') &&
    !/[. ]$/.test(session) &&
    !/\.(json|id)$/i.test(session) &&
    !WINDOWS_DEVICE.test(session) &&
    byteLength(session) <= MAX_NAME_BYTES
  )
}

/** Where a session lives. Throws INVALID_ARGUMENT for ids no folder can hold. */
export function sessionFolder(session: string): SessionFolder {
  assertText('Session id', session)
  if (session === DEFAULT_SESSION) return {}
  if (plainFolderOk(session)) return { name: session }
  const escaped = `%${escapeName(session)}`
  if (byteLength(escaped) <= MAX_NAME_BYTES) return { name: escaped }
  return { name: `%~${hashName(session)}`, hashed: true }
}

/**
 * Reads a sub-folder name back: the session, `{ sidecar }` for a hashed folder (read the id
 * from `.vault-session`, then check it with isSessionFolder), or undefined for foreign folders.
 */
export function parseSessionFolder(name: string): { session: string } | { sidecar: true } | undefined {
  if (name.startsWith('.')) return undefined
  if (name.startsWith('%~')) return HASH.test(name.slice(2)) ? { sidecar: true } : undefined
  const session = name.startsWith('%') ? unescapeName(name.slice(1)) : name
  return session !== undefined && isSessionFolder(name, session) ? { session } : undefined
}

export function isSessionFolder(name: string, session: string): boolean {
  try {
    return sessionFolder(session).name === name
  } catch {
    return false
  }
}
