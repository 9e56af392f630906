import { existsSync } from 'node:fs'
import type BetterSqlite3 from 'better-sqlite3'
import type { Driver, ListEntry, ListOptions } from '../../core/driver.js'
import { VaultError } from '../../core/errors.js'
import { loadBetterSqlite3, openReadOnly } from '../sqlite-access.js'
import { importDriver } from './import-driver.js'
import { unknownRow, valueBytes } from './values.js'

/**
 * Baileys' own SQLite store (useSqliteAuthState, Baileys' develop branch, 7.0.0): one account
 * per file, tables `creds(key, value)` with the creds under key `__creds__` and
 * `signal_keys(type, id, value)` with ids as Baileys gives them; values are Baileys' BufferJSON
 * text. The account is session `default` (as a Baileys folder is in a file: store).
 */
export const BAILEYS_SQLITE_FORM = 'baileys-sqlite:<path to the database file>'
export const BAILEYS_SQLITE_SESSION = 'default'
const CREDS_KEY = '__creds__'
const PAGE = 500
const TYPE = /^[a-z][a-z0-9-]{0,63}$/

function openDatabase(Database: typeof BetterSqlite3, path: string, label: string): BetterSqlite3.Database {
  if (!existsSync(path)) throw new VaultError('NOT_FOUND', `${label} does not exist. Check the path (relative paths are relative to ${process.cwd()}).`)
  const { db } = openReadOnly(Database, path, label)
  try {
    db.prepare('SELECT key, value FROM creds LIMIT 0').all()
    db.prepare('SELECT type, id, value FROM signal_keys LIMIT 0').all()
    return db
  } catch (cause) {
    const ours = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'vault_keys'").get() !== undefined
    db.close()
    throw new VaultError(
      'UNSUPPORTED_FORMAT',
      ours
        ? `${label} is a baileys-vault store, not Baileys' useSqliteAuthState database: open it as sqlite:${label.slice(label.indexOf(':') + 1)}.`
        : `${label} is not a Baileys useSqliteAuthState database (no tables creds(key, value) and signal_keys(type, id, value)). Nothing was changed.`,
      { cause }
    )
  }
}

export async function createBaileysSqliteDriver({ url }: { url: string }): Promise<Driver> {
  const path = url.slice(url.indexOf(':') + 1)
  const label = url
  const db = openDatabase(await loadBetterSqlite3(), path, label)
  const credsRow = db.prepare('SELECT value FROM creds WHERE key = ?').pluck()
  const anyKey = db.prepare('SELECT 1 FROM signal_keys LIMIT 1').pluck()
  const getOne = db.prepare('SELECT value FROM signal_keys WHERE type = ? AND id = ?').pluck()
  // Keyset pages, not one open iterator: better-sqlite3 refuses other statements while one iterates.
  const firstPage = db.prepare('SELECT type, id, value FROM signal_keys ORDER BY type, id LIMIT ?')
  const nextPage = db.prepare('SELECT type, id, value FROM signal_keys WHERE (type, id) > (?, ?) ORDER BY type, id LIMIT ?')
  const firstOfType = db.prepare('SELECT type, id, value FROM signal_keys WHERE type = ? ORDER BY id LIMIT ?')
  const nextOfType = db.prepare('SELECT type, id, value FROM signal_keys WHERE type = ? AND id > ? ORDER BY id LIMIT ?')
  type Row = { type: string; id: string; value: unknown }
  const page = (type: string | undefined, last: Row | undefined): Row[] =>
    (type === undefined
      ? last
        ? nextPage.all(last.type, last.id, PAGE)
        : firstPage.all(PAGE)
      : last
        ? nextOfType.all(type, last.id, PAGE)
        : firstOfType.all(type, PAGE)) as Row[]
  const isAccount = (session: string) => session === BAILEYS_SQLITE_SESSION

  async function* list(session: string, type?: string, options: ListOptions = {}): AsyncIterable<ListEntry> {
    if (!isAccount(session)) return
    for (let last: Row | undefined; ;) {
      const rows = page(type, last)
      for (const row of rows) {
        if (typeof row.type !== 'string' || !TYPE.test(row.type) || typeof row.id !== 'string' || row.id === '')
          throw unknownRow(
            label,
            `signal_keys row (type "${String(row.type).slice(0, 64)}", id "${String(row.id).slice(0, 200)}")`,
            'a Baileys key type and a non-empty id'
          )
        const bytes = valueBytes(row.value)
        if (bytes) yield options.values ? [row.type, row.id, bytes] : [row.type, row.id]
      }
      if (rows.length < PAGE) return
      last = rows[rows.length - 1]
    }
  }

  return importDriver({
    kind: 'baileys-sqlite',
    label,
    async *sessions() {
      if (credsRow.get(CREDS_KEY) !== undefined || anyKey.get() !== undefined) yield BAILEYS_SQLITE_SESSION
    },
    getCreds: async session => (isAccount(session) ? valueBytes(credsRow.get(CREDS_KEY)) : undefined),
    async get(session, type, ids) {
      const out = new Map<string, Uint8Array>()
      if (!isAccount(session)) return out
      for (const id of ids) {
        const bytes = valueBytes(getOne.get(type, id))
        if (bytes) out.set(id, bytes)
      }
      return out
    },
    list,
    close: async () => void db.close()
  })
}
