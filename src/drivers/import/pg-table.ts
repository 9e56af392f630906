import { VaultError } from '../../core/errors.js'
import { parsePostgresUrl } from '../../core/server-url.js'
import { probeFailed, type NamedRowTable } from './named-rows.js'

/** A table of (session, name, value) rows in PostgreSQL, read over one read-only connection (pg). */
export interface PgTableOptions {
  /** A postgres:// URL (the importer's own parameters removed). */
  url: string
  /** The source's URL without its password, for messages. */
  label: string
  schema?: string
  table: string
  columns: { session: string; name: string; value: string }
  /** What the table should be, for messages: e.g. 'a baileys-store table'. */
  what: string
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- pg's ESM and CJS builds export different shapes
async function loadPg(label: string): Promise<any> {
  try {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see loadPg
    const mod: any = await import('pg')
    return mod.default ?? mod
  } catch (cause) {
    throw new VaultError('BACKEND_UNAVAILABLE', `Reading ${label} needs the pg package: npm install pg`, { cause })
  }
}

export async function openPgTable(options: PgTableOptions): Promise<NamedRowTable> {
  const { label, columns } = options
  parsePostgresUrl(options.url)
  const pg = await loadPg(label)
  const client = new pg.Client({ connectionString: options.url })
  try {
    await client.connect()
  } catch (cause) {
    const code = (cause as { code?: string }).code
    if (code === '3D000') throw new VaultError('NOT_FOUND', `${label}: the database does not exist. Check the URL.`, { cause })
    throw new VaultError('BACKEND_UNAVAILABLE', `Cannot connect to ${label} (${code ?? 'error'}). Check the host, port, user and password.`, { cause })
  }
  const t = options.schema ? `${quote(options.schema)}.${quote(options.table)}` : quote(options.table)
  const s = quote(columns.session)
  const n = quote(columns.name)
  const v = quote(columns.value)
  const query = async (text: string, values: unknown[] = []) => (await client.query({ text, values })).rows
  try {
    // The server refuses any write on this connection: reading in place is all an importer does.
    await query('SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY')
    await query(`SELECT ${s}, ${n}, ${v} FROM ${t} LIMIT 0`)
  } catch (cause) {
    await client.end().catch(() => undefined)
    const code = (cause as { code?: string }).code
    const found = code === '42P01' || code === '3F000' ? 'no-table' : code === '42703' ? 'no-column' : 'other'
    throw probeFailed({ cause, found, label, table: t, columns, what: options.what, where: ', ?schema= and ?table=' })
  }
  return {
    async sessions() {
      return (await query(`SELECT DISTINCT ${s} AS session FROM ${t} ORDER BY 1`)).map((r: { session: string }) => r.session)
    },
    async values(session, names) {
      const out = new Map<string, unknown>()
      if (names.length === 0) return out
      for (const row of await query(`SELECT ${n} AS name, ${v} AS value FROM ${t} WHERE ${s} = $1 AND ${n} = ANY($2)`, [session, names]))
        out.set(row.name, row.value)
      return out
    },
    async page(session, after, limit) {
      return after === undefined
        ? query(`SELECT ${n} AS name, ${v} AS value FROM ${t} WHERE ${s} = $1 ORDER BY ${n} LIMIT $2`, [session, limit])
        : query(`SELECT ${n} AS name, ${v} AS value FROM ${t} WHERE ${s} = $1 AND ${n} > $2 ORDER BY ${n} LIMIT $3`, [session, after, limit])
    },
    close: () => client.end()
  }
}
