import { existsSync } from 'node:fs'
import type BetterSqlite3 from 'better-sqlite3'
import type { Driver, ListEntry, ListOptions, SnapshotReader, WriteBatch } from '../core/driver.js'
import { VaultError, renameTargetTaken } from '../core/errors.js'
import { GroupCommit, type GroupedBatch } from './group-commit.js'
import { pageThrough } from './paging.js'
import { refuseWrites } from './read-only.js'
import { createPrivateFile, isPermissionError, notWritable, openReadOnly, restrictFiles } from './sqlite-access.js'
import { prepareSchema, refuseForeignTables } from './sqlite-schema.js'
import { sqliteLease } from './sqlite-lease.js'

/**
 * SQLite via better-sqlite3. Many sessions in one file; WAL; one transaction per write.
 * Writes of all sessions go through group commit (group-commit.ts): batches that arrive in the
 * same event-loop turn share one transaction, each batch in its own savepoint, so one fsync.
 * Durability: `synchronous=FULL` by default (each commit is fsync'd: survives power loss);
 * `durability: 'normal'` keeps WAL's `synchronous=NORMAL` (survives a process crash, may lose
 * the last commits on power loss).
 */
export interface SqliteDriverOptions {
  /** Database path, or ':memory:'. Ignored when `database` is given. */
  path?: string
  /** A user-owned better-sqlite3 Database; baileys-vault will not close it. */
  database?: BetterSqlite3.Database
  durability?: 'full' | 'normal'
  /** How long to wait on a lock held by another connection (ms). */
  busyTimeoutMs?: number
  /**
   * Group commit (off by default): writes that arrive while a commit is being made share the next
   * transaction and its fsync (group-commit.ts). Many accounts in one process write faster; each
   * write still resolves only once durable. Off by default because a write then lands a turn of
   * the event loop later, which widens the window in which Baileys has sent a message whose
   * ratchet step is not yet stored (a SIGKILL there desynchronises that Signal session).
   */
  groupCommit?: boolean
  /**
   * Open for reading only (the CLI's ls, inspect, doctor, backup): the file must exist and be a
   * baileys-vault store; no schema is created, the journal mode is left alone, writes are refused.
   */
  readOnly?: boolean
}

export { SQLITE_SCHEMA_VERSION } from './sqlite-schema.js'
const PAGE = 500

async function loadBetterSqlite3(): Promise<typeof BetterSqlite3> {
  try {
    return (await import('better-sqlite3')).default
  } catch (cause) {
    throw new VaultError('BACKEND_UNAVAILABLE', 'The sqlite: store needs the better-sqlite3 package: npm install better-sqlite3', { cause })
  }
}

function makeReader(db: BetterSqlite3.Database): SnapshotReader {
  const getCreds = db.prepare('SELECT value FROM vault_creds WHERE session = ?').pluck()
  // One id (most of Baileys' reads): the value alone, without a row object.
  const getOne = db.prepare('SELECT value FROM vault_keys WHERE session = ? AND type = ? AND id = ?').pluck()
  const getMany = db.prepare('SELECT id, value FROM vault_keys WHERE session = ? AND type = ? AND id IN (SELECT value FROM json_each(?))')
  // A row-value comparison lets SQLite seek in the primary key; the OR form scanned the session per page.
  const pageAll = db.prepare('SELECT type, id, value FROM vault_keys WHERE session = ? AND (type, id) > (?, ?) ORDER BY type, id LIMIT ?')
  const pageType = db.prepare('SELECT type, id, value FROM vault_keys WHERE session = ? AND type = ? AND id > ? ORDER BY id LIMIT ?')
  const pageSessions = db
    .prepare('SELECT session FROM (SELECT session FROM vault_creds UNION SELECT DISTINCT session FROM vault_keys) WHERE session > ? ORDER BY session LIMIT ?')
    .pluck()
  type Row = { type: string; id: string; value: Buffer }

  return {
    async getCreds(session) {
      return (getCreds.get(session) as Buffer | undefined) ?? undefined
    },
    async get(session, type, ids) {
      const found = new Map<string, Uint8Array>()
      if (ids.length === 1) {
        const value = getOne.get(session, type, ids[0]) as Buffer | undefined
        if (value) found.set(ids[0], value)
      } else for (const r of getMany.all(session, type, JSON.stringify(ids)) as Row[]) found.set(r.id, r.value)
      return found
    },
    list(session, type?: string, options: ListOptions = {}): AsyncIterable<ListEntry> {
      // Keyset paging: constant memory, and no statement is held open between pages.
      return pageThrough<Row, ListEntry>(
        last =>
          (type === undefined ? pageAll.all(session, last?.type ?? '', last?.id ?? '', PAGE) : pageType.all(session, type, last?.id ?? '', PAGE)) as Row[],
        PAGE,
        r => (options.values ? [r.type, r.id, r.value] : [r.type, r.id])
      )
    },
    sessions() {
      return pageThrough<string, string>(
        last => pageSessions.all(last ?? '', PAGE) as string[],
        PAGE,
        s => s
      )
    }
  }
}

const isNotADatabase = (err: unknown) => ['SQLITE_NOTADB', 'SQLITE_CORRUPT'].includes((err as { code?: string }).code ?? '')
const notADatabase = (where: string, cause: unknown) =>
  new VaultError('CORRUPT_DATA', `${where} is not a readable SQLite database (${(cause as { code?: string }).code}). Restore it from a backup.`, { cause })

export async function createSqliteDriver(options: SqliteDriverOptions): Promise<Driver> {
  const owned = !options.database
  const where = options.path ?? 'database'
  const readOnly = !!options.readOnly
  const onDisk = owned && !!options.path && options.path !== ':memory:'
  let db: BetterSqlite3.Database
  let created = false
  let copied = false
  if (options.database) {
    db = options.database
  } else {
    const Database = await loadBetterSqlite3()
    try {
      if (onDisk && !readOnly) created = createPrivateFile(options.path!)
      if (readOnly && onDisk) ({ db, copied } = openReadOnly(Database, options.path!, where))
      else db = new Database(options.path ?? ':memory:', { readonly: readOnly })
    } catch (cause) {
      if (readOnly && onDisk && !existsSync(options.path!)) {
        throw new VaultError('NOT_FOUND', `SQLite database ${where} does not exist. Check the path.`, { cause })
      }
      if (cause instanceof VaultError) throw cause
      if (isNotADatabase(cause)) throw notADatabase(where, cause)
      if (!readOnly && isPermissionError(cause)) throw notWritable(where, cause)
      throw new VaultError('BACKEND_UNAVAILABLE', `Cannot open SQLite database ${where}: ${(cause as Error).message}`, { cause })
    }
  }
  try {
    // SQLite silently falls back to a read-only connection on a file this user may not write.
    if (!readOnly && db.readonly) throw notWritable(where)
    db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`)
    // Before anything that writes (journal mode, schema): another program's database stays untouched.
    refuseForeignTables(db, where)
    if (!readOnly) {
      db.pragma('journal_mode = WAL')
      db.pragma(`synchronous = ${options.durability === 'normal' ? 'NORMAL' : 'FULL'}`)
      if (created) restrictFiles(options.path!)
    }
    prepareSchema(db, where, readOnly)
  } catch (err) {
    if (owned) db.close()
    if (err instanceof VaultError) throw err
    if (isNotADatabase(err)) throw notADatabase(where, err)
    if (!readOnly && isPermissionError(err)) throw notWritable(where, err)
    throw err
  }

  const reader = makeReader(db)
  const { lease, fence } = sqliteLease(db)
  const upsertCreds = db.prepare('INSERT INTO vault_creds (session, value) VALUES (?, ?) ON CONFLICT (session) DO UPDATE SET value = excluded.value')
  const upsertKey = db.prepare(
    'INSERT INTO vault_keys (session, type, id, value) VALUES (?, ?, ?, ?) ON CONFLICT (session, type, id) DO UPDATE SET value = excluded.value'
  )
  const deleteKey = db.prepare('DELETE FROM vault_keys WHERE session = ? AND type = ? AND id = ?')
  const applyBatch = db.transaction((session: string, batch: WriteBatch) => {
    if (batch.creds) upsertCreds.run(session, batch.creds)
    for (const [type, id, value] of batch.set) upsertKey.run(session, type, id, value)
    for (const [type, id] of batch.del) deleteKey.run(session, type, id)
    fence(session, batch.epoch) // last: the writes above took the write lock, so this reads the latest lease
  })
  /**
   * One transaction for a group, one savepoint per batch: applyBatch nested in a transaction is
   * a SAVEPOINT in better-sqlite3, so a batch that throws rolls back alone and the others still
   * commit. If SQLite aborted the whole transaction (disk full, I/O error) or the COMMIT fails,
   * the group throws and every batch in it fails: none is reported saved.
   */
  const applyGroup = db.transaction((group: readonly GroupedBatch[]) =>
    group.map(({ session, batch }) => {
      try {
        applyBatch(session, batch)
        return undefined
      } catch (err) {
        if (!db.inTransaction) throw err
        return err
      }
    })
  )
  /** A write refused by the file system (mode changed, folder read-only) names the path, not "retry". */
  const writing = <T>(fn: () => T): T => {
    try {
      return fn()
    } catch (err) {
      throw isPermissionError(err) ? notWritable(where, err) : err
    }
  }
  const groups = new GroupCommit({ applyGroup: async group => writing(() => applyGroup(group)) })
  const deleteCreds = db.prepare('DELETE FROM vault_creds WHERE session = ?')
  const deleteKeys = db.prepare('DELETE FROM vault_keys WHERE session = ?')
  const dropSession = db.transaction((session: string) => {
    deleteCreds.run(session)
    deleteKeys.run(session)
  })
  const renameStatements = {
    taken: db.prepare('SELECT 1 FROM vault_creds WHERE session = ? UNION ALL SELECT 1 FROM vault_keys WHERE session = ? LIMIT 1').pluck(),
    creds: db.prepare('UPDATE vault_creds SET session = ? WHERE session = ?'),
    keys: db.prepare('UPDATE vault_keys SET session = ? WHERE session = ?')
  }
  /** One transaction: the session is under its old id or its new one, never both or half. */
  const renameSession = db.transaction((from: string, to: string) => {
    if (renameStatements.taken.get(to, to) !== undefined) throw renameTargetTaken(to)
    renameStatements.creds.run(to, from)
    renameStatements.keys.run(to, from)
  })

  const driver: Driver = {
    kind: 'sqlite',
    capabilities: { snapshot: true, rename: true, commitsOnCall: true },
    lease,
    ...reader,
    write: options.groupCommit
      ? (session, batch) => groups.write(session, batch)
      : async (session, batch) => {
          writing(() => applyBatch(session, batch))
        },
    async rename(from, to) {
      await groups.drain() // after the writes made before it, as when each write committed at once
      writing(() => renameSession(from, to))
    },
    async drop(session) {
      await groups.drain()
      writing(() => dropSession(session))
    },
    async snapshot(fn) {
      // A second connection in one read transaction sees one point in time while writes go on.
      if (!onDisk || copied) return fn(reader)
      const Database = await loadBetterSqlite3()
      const snap = new Database(options.path, { readonly: true })
      try {
        snap.exec('BEGIN')
        const snapReader = makeReader(snap)
        snap.prepare('SELECT 1 FROM vault_meta LIMIT 1').get() // starts the read snapshot now
        return await fn(snapReader)
      } finally {
        snap.close()
      }
    },
    async close() {
      await groups.drain()
      if (owned && db.open) db.close()
    }
  }
  return readOnly ? refuseWrites(driver, `sqlite:${where}`) : driver
}
