import { VaultError } from '../../core/errors.js'
import { parsePostgresUrl } from '../../core/server-url.js'
import { loadPg } from '../postgres.js'

/**
 * Evolution API's "Session" table (prisma/postgresql-schema.prisma: `model Session { id,
 * sessionId @unique, creds String? @db.Text, createdAt }`), read on one connection whose
 * transactions are read-only: the server itself refuses any write.
 */
export interface SessionTable {
  sessions(): AsyncIterable<string>
  /** The stored "creds" text of an instance, or undefined (no row, or a null column). */
  creds(session: string): Promise<string | undefined>
  close(): Promise<void>
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`

export async function evolutionSessionTable({ url, schema }: { url: string; schema: string }): Promise<SessionTable> {
  const parts = parsePostgresUrl(url)
  const where = `${parts.host || 'socket'}:${parts.port}/${parts.database}`
  const pg = await loadPg()
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000, application_name: 'baileys-vault-import' })
  client.on('error', () => undefined)
  const table = `${quoteIdent(schema)}."Session"`
  try {
    await client.connect()
    await client.query('SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY')
    const found = await client.query('SELECT to_regclass($1) AS t', [table])
    if (found.rows[0].t === null)
      throw new VaultError(
        'NOT_FOUND',
        `The PostgreSQL database ${where} has no Evolution API table "Session" in the schema "${schema}". Give Evolution's DATABASE_CONNECTION_URI with its ?schema= (e.g. evolution+postgres://user:pass@host/evolution?schema=evolution_api&redis=…).`
      )
  } catch (err) {
    await client.end().catch(() => undefined)
    if (err instanceof VaultError) throw err
    throw new VaultError(
      'BACKEND_UNAVAILABLE',
      `Cannot read Evolution API's PostgreSQL database ${where}: ${(err as Error).message.replace(/\.+$/, '')}. Check that the server is running and the URL, user and password are right.`,
      { cause: err }
    )
  }
  return {
    async *sessions() {
      const { rows } = await client.query(`SELECT "sessionId" AS id FROM ${table} ORDER BY "sessionId"`)
      for (const row of rows) yield row.id as string
    },
    async creds(session) {
      const { rows } = await client.query(`SELECT creds FROM ${table} WHERE "sessionId" = $1`, [session])
      return rows[0]?.creds ?? undefined
    },
    close: () => client.end()
  }
}
