import { VaultError, describeLocation } from '../../core/errors.js'
import { checkBody, decodeCreds } from '../../codec/values.js'
import type { ListEntry } from '../../core/driver.js'
import { BAILEYS_TYPES } from '../file-names.js'

/**
 * What the key-value importers (Evolution API, baileys-api) do with the values they find: check
 * that each is Baileys' BufferJSON text (as the file: store keeps it), unwrap the ones stored
 * JSON-encoded a second time, read a key's (type, id) back from a raw `${type}-${id}` name, and
 * check a whole session before handing on its first key. Errors name the row (session, type, id),
 * never the value.
 */

/** Where a value was found, for messages: the session, and the key (absent for creds). */
export interface ValuePlace {
  session: string
  type?: string
  id?: string
}

/**
 * The key of a `${type}-${id}` name written without Baileys' file-name mangling (Redis hash
 * fields): the type is the longest Baileys 7 key type the name starts with; undefined when none.
 * (The SQL importers' values.ts has the same reading as `parseKeyName(name, false)`.)
 */
export function typedKeyName(name: string): { type: string; id: string } | undefined {
  const type = BAILEYS_TYPES.find(t => name.startsWith(`${t}-`) && name.length > t.length + 1)
  return type ? { type, id: name.slice(type.length + 1) } : undefined
}

/**
 * The inner text of a value stored as a JSON string holding BufferJSON text (double-encoded:
 * `JSON.stringify(JSON.stringify(value, BufferJSON.replacer))`). Anything else is CORRUPT_DATA.
 */
export function unwrapJsonString(text: string, place: ValuePlace, layout: string): string {
  let inner: unknown
  try {
    inner = JSON.parse(text)
  } catch {
    inner = undefined
  }
  if (typeof inner !== 'string')
    throw new VaultError(
      'CORRUPT_DATA',
      `The value of ${describeLocation(place.session, place.type, place.id)} is not the JSON-encoded BufferJSON text that ${layout} writes (torn, or not written by it). Nothing was copied; fix or remove that row in the source, then run again.`
    )
  return inner
}

/**
 * A value as an ImportSource hands it on: its BufferJSON text as UTF-8 bytes. Text that starts
 * with a control character would be read as a baileys-vault envelope byte, so it is refused.
 */
export function bareText(text: string | Uint8Array, place: ValuePlace): Buffer {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : Buffer.from(text.buffer, text.byteOffset, text.byteLength)
  if (bytes.length === 0 || bytes.readUInt8(0) < 0x20)
    throw new VaultError(
      'CORRUPT_DATA',
      `The value of ${describeLocation(place.session, place.type, place.id)} is ${bytes.length === 0 ? 'empty' : 'not BufferJSON text'}. Nothing was copied; fix or remove that row in the source, then run again.`
    )
  return bytes
}

/** A session's creds as an ImportSource returns them, checked as useAuthState would read them. */
export function credsValue(text: string, session: string): Buffer {
  const bytes = bareText(text, { session })
  decodeCreds(bytes, session)
  return bytes
}

/**
 * Every key of one session, read whole and each value checked (CORRUPT_DATA naming the row)
 * before the first is handed on: migrate then stops at a damaged row before it writes anything
 * to the target. Sorted by type, then id (a stable order).
 */
export async function* checkedSession(session: string, entries: AsyncIterable<ListEntry>, withValues: boolean): AsyncGenerator<ListEntry> {
  const all: ListEntry[] = []
  for await (const [type, id, value] of entries) {
    if (value === undefined) throw new Error(`checkedSession needs the values of session "${session}"`)
    checkBody(bareText(value, { session, type, id }), session, type, id)
    all.push([type, id, value])
  }
  all.sort(([ta, ia], [tb, ib]) => (ta === tb ? (ia < ib ? -1 : ia > ib ? 1 : 0) : ta < tb ? -1 : 1))
  for (const [type, id, value] of all) yield withValues ? [type, id, value] : [type, id]
}
