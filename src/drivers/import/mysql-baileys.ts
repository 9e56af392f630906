import type { Driver } from '../../core/driver.js'
import { redactUrl } from '../../core/url.js'
import { importDriver } from './import-driver.js'
import { openMysqlTable } from './mysql-table.js'
import { namedRowSource } from './named-rows.js'
import { parseSqlUrl } from './sql-url.js'
import { objectOrBareStringBytes } from './values.js'

/**
 * mysql-baileys (npm `mysql-baileys`, useMySQLAuthState): one MySQL/MariaDB table, `auth` by
 * default, of rows (session, id, value). The creds are the row `creds`; a key is the row
 * `${type}-${id}` with the id as Baileys gives it (not mangled); the value is Baileys' BufferJSON
 * text (LONGTEXT, or a JSON column, which mysql2 returns parsed) for objects, and the bare string
 * for Baileys' lid-mapping strings (see objectOrBareStringBytes). A NULL value reads as missing.
 */
export const MYSQL_BAILEYS_FORM = 'mysql-baileys://user:pass@host[:port]/database[?table=auth]'

export async function createMysqlBaileysDriver({ url }: { url: string }): Promise<Driver> {
  const parsed = parseSqlUrl(url, { form: MYSQL_BAILEYS_FORM, defaultPort: 3306, params: ['table'] })
  const label = redactUrl(url)
  const table = await openMysqlTable({
    url: parsed,
    label,
    table: parsed.params.get('table') ?? 'auth',
    columns: { session: 'session', name: 'id', value: 'value' },
    what: 'a mysql-baileys table'
  })
  return importDriver(namedRowSource({ kind: 'mysql-baileys', label, table, mangled: false, bytesOf: objectOrBareStringBytes }))
}
