import type { ListEntry, ListOptions } from '../../core/driver.js'
import { VaultError } from '../../core/errors.js'
import type { ImportSource } from './import-driver.js'
import { keyName, parseKeyName, unknownRow, valueBytes } from './values.js'

/**
 * One SQL table of rows (session, name, value) where the creds are the row `creds` and every key
 * is the row `${type}-${id}` (mysql-baileys; baileys-store with names mangled like Baileys file
 * names). The database side (MySQL, PostgreSQL) is a small query interface; this module is the layout.
 */
export interface NamedRowTable {
  /** Every session id in the table. */
  sessions(): Promise<string[]>
  /** The raw values of the named rows of one session that exist. */
  values(session: string, names: readonly string[]): Promise<Map<string, unknown>>
  /** Up to `limit` rows of a session with a name after `after`, in name order (keyset paging), with their raw values. */
  page(session: string, after: string | undefined, limit: number): Promise<Array<{ name: string; value: unknown }>>
  close(): Promise<void>
}

const CREDS_ROW = 'creds'
const PAGE = 500

export interface NamedRowOptions {
  kind: string
  label: string
  table: NamedRowTable
  /** Names are mangled like Baileys file names (`/` → `__`, `:` → `-`). */
  mangled: boolean
  /** A raw database value as BufferJSON text bytes (undefined: the key is missing). Default: valueBytes. */
  bytesOf?: (value: unknown) => Uint8Array | undefined
}

export function namedRowSource(options: NamedRowOptions): ImportSource {
  const { kind, label, table, mangled, bytesOf = valueBytes } = options

  async function* list(session: string, type?: string, listOptions: ListOptions = {}): AsyncIterable<ListEntry> {
    let after: string | undefined
    for (;;) {
      const rows = await table.page(session, after, PAGE)
      for (const { name, value } of rows) {
        if (name === CREDS_ROW) continue
        const key = parseKeyName(name, mangled)
        if (!key) throw unknownRow(label, `row "${name}" of session "${session}"`, '"creds" or "<type>-<id>" with a Baileys 7 key type')
        if (type !== undefined && key.type !== type) continue
        // A NULL value reads as a missing key in these stores (so it is not listed either).
        const bytes = bytesOf(value)
        if (bytes) yield listOptions.values ? [key.type, key.id, bytes] : [key.type, key.id]
      }
      const lastRow = rows.at(-1)
      if (rows.length < PAGE || lastRow === undefined) return
      after = lastRow.name
    }
  }

  return {
    kind,
    label,
    async *sessions() {
      yield* await table.sessions()
    },
    async getCreds(session) {
      return bytesOf((await table.values(session, [CREDS_ROW])).get(CREDS_ROW))
    },
    async get(session, type, ids) {
      const nameOf = new Map(ids.map(id => [id, keyName(type, id, mangled)]))
      const found = await table.values(session, [...new Set(nameOf.values())])
      const out = new Map<string, Uint8Array>()
      for (const [id, name] of nameOf) {
        const bytes = bytesOf(found.get(name))
        if (bytes) out.set(id, bytes)
      }
      return out
    },
    list,
    close: () => table.close()
  }
}

/**
 * The error for a source table that failed its opening probe (`SELECT … LIMIT 0`), told apart by
 * what the server said: no such table, a missing column, or anything else.
 */
export function probeFailed(options: {
  cause: unknown
  found: 'no-table' | 'no-column' | 'other'
  label: string
  table: string
  columns: { session: string; name: string; value: string }
  what: string
  /** Which URL parameters name the table, e.g. "?table=". */
  where: string
}): VaultError {
  const { cause, found, label, table, columns, what, where } = options
  const code = (cause as { code?: string }).code
  if (found === 'no-table')
    return new VaultError('NOT_FOUND', `${label} has no table ${table}, so it is not ${what}. Nothing was changed; check the database${where}.`, { cause })
  if (found === 'no-column')
    return new VaultError(
      'UNSUPPORTED_FORMAT',
      `${label}: table ${table} has no columns (${columns.session}, ${columns.name}, ${columns.value}), so it is not ${what}. Nothing was changed.`,
      { cause }
    )
  return new VaultError('BACKEND_UNAVAILABLE', `Cannot read ${label} (${code ?? 'error'}).`, { cause })
}
