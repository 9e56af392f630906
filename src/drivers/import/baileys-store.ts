import type { Driver } from '../../core/driver.js'
import { redactUrl } from '../../core/url.js'
import { importDriver } from './import-driver.js'
import { openMysqlTable } from './mysql-table.js'
import { namedRowSource, type NamedRowTable } from './named-rows.js'
import { openPgTable } from './pg-table.js'
import { parseSqlUrl } from './sql-url.js'

/**
 * whatsapp-store-db / @ookamiiixd/baileys-store (useSession): the Prisma model
 * `Session(pkId, sessionId, id, data)` on PostgreSQL or MySQL. The creds are the row `creds`; a
 * key is the row `${type}-${id}` mangled like a Baileys file name (`/` → `__`, `:` → `-`),
 * read back as the file: store reads Baileys' names; `data` is Baileys' BufferJSON text.
 */
export const BAILEYS_STORE_FORMS = {
  'baileys-store+postgres': 'baileys-store+postgres://user:pass@host[:port]/database[?schema=public&table=Session]',
  'baileys-store+mysql': 'baileys-store+mysql://user:pass@host[:port]/database[?table=Session]'
} as const

const COLUMNS = { session: 'sessionId', name: 'id', value: 'data' }
const WHAT = 'a baileys-store (Prisma Session) table'

type BaileysStoreScheme = keyof typeof BAILEYS_STORE_FORMS

async function openTable(scheme: BaileysStoreScheme, url: string, label: string): Promise<NamedRowTable> {
  const form = BAILEYS_STORE_FORMS[scheme]
  if (scheme === 'baileys-store+mysql') {
    const parsed = parseSqlUrl(url, { form, defaultPort: 3306, params: ['table'] })
    return openMysqlTable({ url: parsed, label, table: parsed.params.get('table') ?? 'Session', columns: COLUMNS, what: WHAT })
  }
  const parsed = parseSqlUrl(url, { form, defaultPort: 5432, params: ['table', 'schema'], clientParams: true })
  const where = { schema: parsed.params.get('schema'), table: parsed.params.get('table') ?? 'Session' }
  return openPgTable({ url: parsed.serverUrl('postgres'), label, ...where, columns: COLUMNS, what: WHAT })
}

export async function createBaileysStoreDriver({ scheme, url }: { scheme: BaileysStoreScheme; url: string }): Promise<Driver> {
  const label = redactUrl(url)
  const table = await openTable(scheme, url, label)
  return importDriver(namedRowSource({ kind: 'baileys-store', label, table, mangled: true }))
}
