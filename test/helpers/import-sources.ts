/**
 * Other projects' stores for the importers' tests, written exactly as those projects write them:
 * mysql-baileys by the real npm package; Baileys develop's useSqliteAuthState and
 * baileys-store's useSession (neither installable here: Baileys' develop is unreleased, Prisma's
 * engines cannot be fetched) by auth states written here from the layouts in their sources
 * (same tables, row names, value encoding, deletes), not from their code.
 */
import { BufferJSON, initAuthCreds, proto, type AuthenticationCreds, type AuthenticationState, type SignalDataSet } from '@whiskeysockets/baileys'
import Database from 'better-sqlite3'
import { createRequire } from 'node:module'
import { readBaileysFolder } from './fixture.js'

export interface SourceAuth {
  state: AuthenticationState
  saveCreds(): Promise<void>
}

const toText = (value: unknown) => JSON.stringify(value, BufferJSON.replacer)
/** As each of these stores reads a value back: BufferJSON, and AppStateSyncKeyData.fromObject for app-state keys. */
function fromText(type: string, text: string): any {
  const value = JSON.parse(text, BufferJSON.reviver)
  return type === 'app-state-sync-key' && value ? proto.Message.AppStateSyncKeyData.fromObject(value) : value
}

/** The stored creds, or new ones when the store has none yet (as both stores start). */
const credsFrom = (text: string | undefined): AuthenticationCreds => (text ? JSON.parse(text, BufferJSON.reviver) : initAuthCreds())
/** Every (type, id, value) of a keys.set, in order; each store decides what a null value means. */
function forEachKey(data: SignalDataSet, fn: (type: string, id: string, value: unknown) => void): void {
  for (const [type, values] of Object.entries(data)) for (const [id, value] of Object.entries(values ?? {})) fn(type, id, value)
}

/** Writes a Baileys folder's device (creds and every key) through `auth`, as Baileys would on first use. */
export async function writeFolderDevice(auth: SourceAuth, folder: string): Promise<number> {
  const { creds, keys } = await readBaileysFolder(folder)
  const data: Record<string, Record<string, unknown>> = {}
  for (const [type, id, value] of keys) (data[type] ??= {})[id] = value
  await auth.state.keys.set(data as SignalDataSet)
  Object.assign(auth.state.creds, creds)
  await auth.saveCreds()
  return keys.length
}

// ------------------------------------------------------------------ mysql-baileys (the real package)

const require = createRequire(import.meta.url)
/**
 * mysql-baileys keeps one module-wide connection that it never closes (and reuses for every
 * later call, whatever its config). The test records it as mysql2 hands it over, to close it at
 * the end; nothing the package reads or writes changes.
 */
const mysqlBaileysConnections: Array<{ end(): Promise<void> }> = []
const mysql2 = require('mysql2/promise')
const createConnection = mysql2.createConnection
mysql2.createConnection = async (...args: unknown[]) => {
  const conn = await createConnection(...args)
  mysqlBaileysConnections.push(conn)
  return conn
}
export const closeMysqlBaileys = async () => {
  for (const conn of mysqlBaileysConnections.splice(0)) await conn.end()
}

/** The real useMySQLAuthState of npm's mysql-baileys, on the test MariaDB (its table: `auth`). */
export async function mysqlBaileysAuth(db: { host: string; port: number; user: string; database: string }, session: string): Promise<SourceAuth> {
  const { useMySQLAuthState } = require('mysql-baileys')
  const auth = await useMySQLAuthState({ ...db, session, password: undefined })
  return { state: auth.state, saveCreds: auth.saveCreds }
}

// ------------------------------------------------------------------ Baileys develop's useSqliteAuthState

/** Baileys develop's SQLite layout: creds(key, value) with `__creds__`, signal_keys(type, id, value); WAL. */
export function baileysSqliteAuth(path: string): SourceAuth & { close(): void } {
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.exec(`CREATE TABLE IF NOT EXISTS creds (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS signal_keys (type TEXT NOT NULL, id TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (type, id));
    CREATE INDEX IF NOT EXISTS signal_keys_type_idx ON signal_keys(type);`)
  const credsText = db.prepare('SELECT value FROM creds WHERE key = ?').pluck().get('__creds__') as string | undefined
  const creds = credsFrom(credsText)
  const saveCreds = db.prepare('INSERT INTO creds (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value')
  const select = db.prepare('SELECT value FROM signal_keys WHERE type = ? AND id = ?').pluck()
  const upsert = db.prepare('INSERT INTO signal_keys (type, id, value) VALUES (?, ?, ?) ON CONFLICT(type, id) DO UPDATE SET value = excluded.value')
  const remove = db.prepare('DELETE FROM signal_keys WHERE type = ? AND id = ?')
  // One transaction per set, a null value deleting its key, as Baileys' store does.
  const apply = db.transaction((data: SignalDataSet) =>
    forEachKey(data, (type, id, value) => {
      if (value === null) remove.run(type, id)
      else upsert.run(type, id, toText(value))
    })
  )
  return {
    state: {
      creds,
      keys: {
        get: async (type, ids) => {
          const out: Record<string, any> = {}
          for (const id of ids) {
            const text = select.get(type, id) as string | undefined
            if (text !== undefined) out[id] = fromText(type, text)
          }
          return out
        },
        set: async data => void apply.immediate(data)
      }
    },
    saveCreds: async () => void saveCreds.run('__creds__', toText(creds)),
    close: () => db.close()
  }
}

// ------------------------------------------------------------------ baileys-store (Prisma model Session)

/** The Session table as Prisma's migration creates it, and the three statements useSession runs. */
export interface SessionTable {
  upsert(sessionId: string, id: string, data: string): Promise<void>
  read(sessionId: string, id: string): Promise<string | undefined>
  remove(sessionId: string, id: string): Promise<void>
}

export const PG_SESSION_DDL = `CREATE TABLE "Session" ("pkId" BIGSERIAL NOT NULL, "sessionId" TEXT NOT NULL, "id" TEXT NOT NULL, "data" TEXT NOT NULL, CONSTRAINT "Session_pkey" PRIMARY KEY ("pkId"));
CREATE UNIQUE INDEX "unique_id_per_session_id_session" ON "Session"("sessionId", "id");
CREATE INDEX "Session_sessionId_idx" ON "Session"("sessionId");`

export const MYSQL_SESSION_DDL =
  'CREATE TABLE `Session` (`pkId` BIGINT NOT NULL AUTO_INCREMENT, `sessionId` VARCHAR(191) NOT NULL, `id` VARCHAR(191) NOT NULL, `data` TEXT NOT NULL, ' +
  'UNIQUE INDEX `unique_id_per_session_id_session`(`sessionId`, `id`), INDEX `Session_sessionId_idx`(`sessionId`), PRIMARY KEY (`pkId`)) ' +
  'DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci'

export function pgSessionTable(client: { query(text: string, values?: unknown[]): Promise<{ rows: any[] }> }): SessionTable {
  return {
    upsert: async (sessionId, id, data) =>
      void (await client.query(
        'INSERT INTO "Session" ("sessionId", "id", "data") VALUES ($1, $2, $3) ON CONFLICT ("sessionId", "id") DO UPDATE SET "data" = EXCLUDED."data"',
        [sessionId, id, data]
      )),
    read: async (sessionId, id) => (await client.query('SELECT "data" FROM "Session" WHERE "sessionId" = $1 AND "id" = $2', [sessionId, id])).rows[0]?.data,
    remove: async (sessionId, id) => void (await client.query('DELETE FROM "Session" WHERE "sessionId" = $1 AND "id" = $2', [sessionId, id]))
  }
}

export function mysqlSessionTable(conn: { query(sql: string, values?: unknown[]): Promise<any> }): SessionTable {
  return {
    upsert: async (sessionId, id, data) =>
      void (await conn.query('INSERT INTO `Session` (`sessionId`, `id`, `data`) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE `data` = VALUES(`data`)', [
        sessionId,
        id,
        data
      ])),
    read: async (sessionId, id) => (await conn.query('SELECT `data` FROM `Session` WHERE `sessionId` = ? AND `id` = ?', [sessionId, id]))[0][0]?.data,
    remove: async (sessionId, id) => void (await conn.query('DELETE FROM `Session` WHERE `sessionId` = ? AND `id` = ?', [sessionId, id]))
  }
}

/** baileys-store's row name: `${type}-${id}` (or `creds`) with `/` → `__` and `:` → `-`. */
const fixId = (name: string) => name.replace(/\//g, '__').replace(/:/g, '-')

/** baileys-store's useSession over its Session table: one row per key, a falsy value deleting the row. */
export async function baileysStoreAuth(table: SessionTable, sessionId: string): Promise<SourceAuth> {
  const read = (name: string) => table.read(sessionId, fixId(name))
  const creds = credsFrom(await read('creds'))
  return {
    state: {
      creds,
      keys: {
        get: async (type, ids) => {
          const out: Record<string, any> = {}
          await Promise.all(
            ids.map(async id => {
              const text = await read(`${type}-${id}`)
              out[id] = text === undefined ? null : fromText(type, text)
            })
          )
          return out
        },
        set: async data => {
          const tasks: Promise<void>[] = []
          forEachKey(data, (type, id, value) => {
            const name = fixId(`${type}-${id}`)
            tasks.push(value ? table.upsert(sessionId, name, toText(value)) : table.remove(sessionId, name))
          })
          await Promise.all(tasks)
        }
      }
    },
    saveCreds: () => table.upsert(sessionId, 'creds', toText(creds))
  }
}
