import { VaultError } from '../../core/errors.js'
import { probeFailed, type NamedRowTable } from './named-rows.js'
import type { SqlUrl } from './sql-url.js'

/** A table of (session, name, value) rows in MySQL or MariaDB, read over one read-only connection (mysql2). */
export interface MysqlTableOptions {
  url: SqlUrl
  /** The source's URL without its password, for messages. */
  label: string
  table: string
  columns: { session: string; name: string; value: string }
  /** What the table should be, for messages: e.g. 'a mysql-baileys table'. */
  what: string
}

const quote = (name: string) => `\`${name.replace(/`/g, '``')}\``

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- mysql2 is an optional peer: typed structurally where used
async function loadMysql(label: string): Promise<any> {
  try {
    return await import('mysql2/promise')
  } catch (cause) {
    throw new VaultError('BACKEND_UNAVAILABLE', `Reading ${label} needs the mysql2 package: npm install mysql2`, { cause })
  }
}

/** MySQL error numbers that say the table is not what the importer reads. */
const NO_TABLE = new Set(['ER_NO_SUCH_TABLE', 'ER_BAD_DB_ERROR'])

export async function openMysqlTable(options: MysqlTableOptions): Promise<NamedRowTable> {
  const { url, label, columns } = options
  const mysql = await loadMysql(label)
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see loadMysql
  let conn: any
  try {
    conn = await mysql.createConnection({ host: url.host, port: url.port, user: url.user || 'root', password: url.password, database: url.database })
  } catch (cause) {
    const code = (cause as { code?: string }).code
    if (code && NO_TABLE.has(code)) throw new VaultError('NOT_FOUND', `${label}: the database "${url.database}" does not exist. Check the URL.`, { cause })
    throw new VaultError('BACKEND_UNAVAILABLE', `Cannot connect to ${label} (${code ?? 'error'}). Check the host, port, user and password.`, { cause })
  }
  const t = quote(options.table)
  const s = quote(columns.session)
  const n = quote(columns.name)
  const v = quote(columns.value)
  const query = async (sql: string, values: unknown[] = []) => (await conn.query(sql, values))[0]
  try {
    // The server refuses any write on this connection: reading in place is all an importer does.
    await query('SET SESSION TRANSACTION READ ONLY')
    await query(`SELECT ${s}, ${n}, ${v} FROM ${t} LIMIT 0`)
  } catch (cause) {
    await conn.end().catch(() => undefined)
    const code = (cause as { code?: string }).code
    const found = code && NO_TABLE.has(code) ? 'no-table' : code === 'ER_BAD_FIELD_ERROR' ? 'no-column' : 'other'
    throw probeFailed({ cause, found, label, table: t, columns, what: options.what, where: ' and ?table=' })
  }
  return {
    async sessions() {
      const rows = await query(`SELECT DISTINCT ${s} AS session FROM ${t} ORDER BY ${s}`)
      return rows.map((r: { session: string }) => r.session)
    },
    async values(session, names) {
      const out = new Map<string, unknown>()
      if (names.length === 0) return out
      const rows = await query(`SELECT ${n} AS name, ${v} AS value FROM ${t} WHERE ${s} = ? AND ${n} IN (?)`, [session, names])
      for (const row of rows) out.set(row.name, row.value)
      return out
    },
    async page(session, after, limit) {
      return after === undefined
        ? query(`SELECT ${n} AS name, ${v} AS value FROM ${t} WHERE ${s} = ? ORDER BY ${n} LIMIT ?`, [session, limit])
        : query(`SELECT ${n} AS name, ${v} AS value FROM ${t} WHERE ${s} = ? AND ${n} > ? ORDER BY ${n} LIMIT ?`, [session, after, limit])
    },
    close: () => conn.end()
  }
}
