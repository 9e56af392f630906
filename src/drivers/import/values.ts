import { VaultError } from '../../core/errors.js'
import { BAILEYS_TYPES, unfix } from '../file-names.js'

/**
 * What importers share: reading a key name of the `${type}-${id}` form most community stores
 * use (raw, or mangled as Baileys mangles file names), and turning a database value into the
 * BufferJSON text bytes importDriver expects.
 */

/** Baileys' fixFileName, applied to whole `${type}-${id}` names by stores that copied it. */
export const mangleName = (name: string): string => name.replace(/\//g, '__').replace(/:/g, '-')

/** The stored name of (type, id): `${type}-${id}`, mangled like a Baileys file name if the store does. */
export const keyName = (type: string, id: string, mangled: boolean): string => (mangled ? mangleName(`${type}-${id}`) : `${type}-${id}`)

/**
 * (type, id) of a stored `${type}-${id}` name, for Baileys 7's key types (longest first, so
 * `sender-key-memory-…` is never a `sender-key`); undefined for any other name. Mangled ids are
 * read back with the file: store's inverse, which is right for every id Baileys produces.
 */
export function parseKeyName(name: string, mangled: boolean): { type: string; id: string } | undefined {
  const type = BAILEYS_TYPES.find(t => name.startsWith(`${t}-`) && name.length > t.length + 1)
  if (!type) return undefined
  const text = name.slice(type.length + 1)
  return { type, id: mangled ? unfix(type, text) : text }
}

/**
 * A database value as BufferJSON text bytes: text as is, a JSON column (a driver that parses it
 * into an object) stringified back, NULL as absent.
 */
export function valueBytes(value: unknown): Uint8Array | undefined {
  if (value === null || value === undefined) return undefined
  if (typeof value === 'string') return Buffer.from(value, 'utf8')
  if (Buffer.isBuffer(value)) return value
  return Buffer.from(JSON.stringify(value), 'utf8')
}

/**
 * mysql-baileys stores an object value as BufferJSON text and any other value (Baileys'
 * `lid-mapping` strings) bare, without JSON quotes; its own reader then turns a mapping of digits
 * into a number. The importer reads such a bare value back as the JSON string Baileys wrote. An
 * object's text always starts with `{` or `[`; a JSON column comes back from mysql2 already
 * parsed (an object, or a number for digits).
 */
export function objectOrBareStringBytes(value: unknown): Uint8Array | undefined {
  if (value === null || value === undefined) return undefined
  if (typeof value === 'object' && !Buffer.isBuffer(value)) return valueBytes(value)
  const text = Buffer.isBuffer(value) ? value.toString('utf8') : String(value)
  return /^\s*[{[]/.test(text) ? Buffer.from(text, 'utf8') : Buffer.from(JSON.stringify(text), 'utf8')
}

/**
 * A row that is not of the layout the importer reads, named by where it is (session, row id or
 * type and id), never by its value. `expected` says what such a row should look like.
 */
export const unknownRow = (label: string, where: string, expected: string): VaultError =>
  new VaultError(
    'UNSUPPORTED_FORMAT',
    `${label}: ${where} is not a Baileys key of this layout (expected ${expected}). Nothing was read into the target; check the URL names the right table or file, or remove the row.`
  )
