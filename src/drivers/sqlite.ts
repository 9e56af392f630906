import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import type BetterSqlite3 from 'better-sqlite3'
import type { Driver, LeaseCapability, ListEntry, ListOptions, SnapshotReader, WriteBatch } from '../core/driver.js'
import { VaultError, renameTargetTaken } from '../core/errors.js'
import { pageThrough } from './paging.js'
import { refuseWrites } from './read-only.js'
import { createPrivateFile, isPermissionError, loadBetterSqlite3, notWritable, openReadOnly, restrictFiles } from './sqlite-access.js'
import { prepareSchema, refuseForeignTables } from './sqlite-schema.js'
import { sqliteLease } from './sqlite-lease.js'
import { DurabilityBarrier, WalFile } from './wal-sync.js'

/**
 * SQLite via better-sqlite3. Many sessions in one file; WAL; one transaction per write, committed
 * at once (synchronously, in call order: per-session order and read-your-writes as ever).
 *
 * Durability `'full'` (default): a write resolves only once its commit is on disk (survives power
 * loss). On a database file the driver opened itself, by default through a shared flush off the
 * event loop (`groupCommit`, below); with `groupCommit: false` (and on a user-owned `database`
 * unless it asks for `groupCommit: true`) with `synchronous=FULL`: each COMMIT fsyncs the WAL, on
 * the event loop.
 *
 * The shared flush (adaptive): a commit with no company (no flush running or due, the last one
 * had none, and inline flushes are fast: DurabilityBarrier.claimAlone) is made with
 * `synchronous=FULL`, its fsync inside COMMIT on the event loop: what `groupCommit: false` pays,
 * no more. Any other commit runs with `synchronous=NORMAL`, so COMMIT hands the WAL frames to the
 * OS without an fsync (a process crash right after loses nothing), then the write waits for a
 * durability barrier (wal-sync.ts): an fdatasync of the `-wal` file that started after the
 * commit. On an idle barrier it looks a turn of the event loop ahead (so does every 64th commit
 * that could have gone alone: it is how company is noticed); still alone, it is fdatasync'd
 * inline; commits that come together are flushed on libuv's thread pool (right after a flush
 * with company, without waiting the turn), and commits of every session made while one fdatasync
 * runs share the next one. The connection switches between FULL and NORMAL only when that
 * changes. Same durability as FULL when the write resolves; worth knowing:
 * - another reader (a second connection, or a read of this one) may see a commit before it is
 *   durable, and before its write resolved;
 * - checkpoints sync the WAL and the database file as SQLite does in NORMAL mode;
 * - a failed fdatasync fails every write waiting on it with BACKEND_UNAVAILABLE (none reported
 *   saved), and the driver then refuses every write until the store is reopened: after a failed
 *   fsync the kernel's page cache state is unknown, and a later successful fsync proves nothing.
 *   Their commits may or may not survive (a commit whose fsync failed inside COMMIT is in the
 *   WAL, and a reopened store may find it: test/drivers/sqlite-power-cut.test.ts); the auth
 *   state forgets the keys of a failed write, so its next read asks the database.
 * It serves owned on-disk databases (default) and a user-owned `database` in WAL mode (with
 * `groupCommit: true`); a `:memory:` database (or one SQLite will not put in WAL mode) keeps
 * `synchronous=FULL`.
 *
 * `durability: 'normal'` keeps WAL's `synchronous=NORMAL` with no flush per commit (survives a
 * process crash, may lose the last commits on power loss).
 */
export interface SqliteDriverOptions {
  /** Database path, or ':memory:'. Ignored when `database` is given. */
  path?: string
  /** A user-owned better-sqlite3 Database; baileys-vault will not close it. */
  database?: SqliteDatabaseLike
  durability?: 'full' | 'normal'
  /** How long to wait on a lock held by another connection (ms). */
  busyTimeoutMs?: number
  /**
   * Durable commits share their flush (see above): many accounts in one process write faster and
   * the event loop waits on the disk only for a commit without company. Default: on for a database file the driver opens
   * itself, off for a user-owned `database` (its connection's pragmas stay as given). `false`:
   * `synchronous=FULL`, one fsync per commit on the event loop. What a SIGKILL leaves behind is
   * the same either way: every commit is in the WAL (in the OS) before its write resolves.
   */
  groupCommit?: boolean
  /**
   * @internal Replaces the fdatasync of the WAL (tests inject a failing or held flush; a real EIO
   * cannot be produced on demand). Every flush then goes through it: none is made inline.
   */
  walSync?: () => Promise<void>
  /** @internal A lone commit carries its own flush unless inline flushes stay this slow or slower (ms; default 4; 0: every flush shared: wal-sync.ts). */
  inlineFlushBelowMs?: number
  /**
   * Open for reading only (the CLI's ls, inspect, doctor, backup): the file must exist and be a
   * baileys-vault store; no schema is created, the journal mode is left alone, writes are refused.
   */
  readOnly?: boolean
}

export { SQLITE_SCHEMA_VERSION } from './sqlite-version.js'
const PAGE = 500

/**
 * A copy written in place into a new session (WriteBatch.copy) is marked by a row of vault_meta,
 * `copying:<session>`, from its first batch until the batch that completes it: no schema change,
 * and an older baileys-vault that ignores the row sees what an interrupted copy always left
 * (keys without creds, which useAuthState refuses). A mark counts only while its session has no
 * creds: creds land in the batch that removes it, so creds beside a mark were written by someone
 * else (an older version), and that session is listed and never removed as an unfinished copy.
 */
const COPY_MARK = 'copying:'
const MARKED_COPIES = `SELECT substr(key, ${COPY_MARK.length + 1}) AS marked FROM vault_meta WHERE substr(key, 1, ${COPY_MARK.length}) = '${COPY_MARK}'`

function makeReader(db: BetterSqlite3.Database): SnapshotReader {
  const getCreds = db.prepare('SELECT value FROM vault_creds WHERE session = @session').pluck()
  // One id (most of Baileys' reads): the value alone, without a row object. Bound by position,
  // as the per-key writes below are: better-sqlite3 binds an object by looking up each name,
  // measured 20-40 % slower per get and ~20 % per upsert (20k keys, 2026-12-05). Every other
  // statement binds by name.
  const getOne = db.prepare('SELECT value FROM vault_keys WHERE session = ? AND type = ? AND id = ?').pluck()
  const getMany = db.prepare('SELECT id, value FROM vault_keys WHERE session = @session AND type = @type AND id IN (SELECT value FROM json_each(@ids))')
  // A row-value comparison lets SQLite seek in the primary key; the OR form scanned the session per page.
  // Listing ids only does not read the values (counting 100k keys read 139 MB of them).
  const pages = (columns: string) => ({
    all: db.prepare(`SELECT ${columns} FROM vault_keys WHERE session = @session AND (type, id) > (@afterType, @afterId) ORDER BY type, id LIMIT @limit`),
    type: db.prepare(`SELECT ${columns} FROM vault_keys WHERE session = @session AND type = @type AND id > @afterId ORDER BY id LIMIT @limit`)
  })
  const withValues = pages('type, id, value')
  const idsOnly = pages('type, id')
  // A session marked as an unfinished copy (see COPY_MARK) is listed only once it has creds.
  const pageSessions = db
    .prepare(
      `SELECT session FROM (SELECT session FROM vault_creds UNION SELECT DISTINCT session FROM vault_keys WHERE session NOT IN (${MARKED_COPIES})) WHERE session > @after ORDER BY session LIMIT @limit`
    )
    .pluck()
  type Row = { type: string; id: string; value: Buffer }

  return {
    async getCreds(session) {
      return (getCreds.get({ session }) as Buffer | undefined) ?? undefined
    },
    async get(session, type, ids) {
      const found = new Map<string, Uint8Array>()
      const only = ids.length === 1 ? ids[0] : undefined
      if (only !== undefined) {
        const value = getOne.get(session, type, only) as Buffer | undefined
        if (value) found.set(only, value)
      } else for (const r of getMany.all({ session, type, ids: JSON.stringify(ids) }) as Row[]) found.set(r.id, r.value)
      return found
    },
    list(session, type?: string, options: ListOptions = {}): AsyncIterable<ListEntry> {
      // Keyset paging: constant memory, and no statement is held open between pages.
      const page = options.values ? withValues : idsOnly
      return pageThrough<Row, ListEntry>(
        last =>
          (type === undefined
            ? page.all.all({ session, afterType: last?.type ?? '', afterId: last?.id ?? '', limit: PAGE })
            : page.type.all({ session, type, afterId: last?.id ?? '', limit: PAGE })) as Row[],
        PAGE,
        r => (options.values ? [r.type, r.id, r.value] : [r.type, r.id])
      )
    },
    sessions() {
      return pageThrough<string, string>(
        last => pageSessions.all({ after: last ?? '', limit: PAGE }) as string[],
        PAGE,
        s => s
      )
    }
  }
}

const isNotADatabase = (err: unknown) => ['SQLITE_NOTADB', 'SQLITE_CORRUPT'].includes((err as { code?: string }).code ?? '')
const notADatabase = (where: string, cause: unknown) =>
  new VaultError('CORRUPT_DATA', `${where} is not a readable SQLite database (${(cause as { code?: string }).code}). Restore it from a backup.`, { cause })

const isIoError = (err: unknown) => ((err as { code?: string }).code ?? '').startsWith('SQLITE_IOERR')

/** What a write returns once its commit is durable on return: already resolved, never mutated, so it can be shared. */
const COMMITTED: Promise<void> = Promise.resolve()

/** Lease steps commit at once too; each resolves once durable, so an epoch handed out survives a power loss. */
function durableLease(lease: LeaseCapability, barrier: DurabilityBarrier): LeaseCapability {
  const durable = async <T>(step: () => Promise<T>): Promise<T> => {
    if (barrier.failed) throw barrier.failed
    const result = await step()
    await barrier.wait()
    return result
  }
  return {
    get minTtlMs() {
      return lease.minTtlMs
    },
    acquire: (session, request) => durable(() => lease.acquire(session, request)),
    renew: (session, request) => durable(() => lease.renew(session, request)),
    release: (session, request) => durable(() => lease.release(session, request)),
    leaseInfo: session => lease.leaseInfo(session)
  }
}

/**
 * A user-owned better-sqlite3 `Database`, typed by what baileys-vault calls on it, so the
 * shipped types need neither better-sqlite3's nor @types/better-sqlite3 (any Database fits).
 */
export interface SqliteDatabaseLike {
  readonly name: string
  readonly open: boolean
  prepare(source: string): unknown
  pragma(source: string, options?: { simple?: boolean }): unknown
  exec(source: string): unknown
  transaction(fn: (...args: never[]) => unknown): unknown
  close(): unknown
}

export async function createSqliteDriver(options: SqliteDriverOptions): Promise<Driver> {
  const owned = !options.database
  const where = options.path ?? 'database'
  const readOnly = !!options.readOnly
  const onDisk = owned && !!options.path && options.path !== ':memory:'
  let db: BetterSqlite3.Database
  let created = false
  let copied = false
  /** Durable commits flush through the barrier (see the doc comment above), set once the journal mode is known. */
  let walFile: WalFile | undefined
  if (options.database) {
    db = options.database as BetterSqlite3.Database
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
      const wal = db.pragma('journal_mode = WAL', { simple: true }) === 'wal'
      const shareFlush = options.durability !== 'normal' && wal && !db.memory && (options.groupCommit ?? onDisk)
      db.pragma(`synchronous = ${options.durability === 'normal' || shareFlush ? 'NORMAL' : 'FULL'}`)
      if (shareFlush) walFile = new WalFile(`${resolve(db.name)}-wal`)
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
  const upsertCreds = db.prepare(
    'INSERT INTO vault_creds (session, value) VALUES (@session, @value) ON CONFLICT (session) DO UPDATE SET value = excluded.value'
  )
  const upsertKey = db.prepare(
    'INSERT INTO vault_keys (session, type, id, value) VALUES (?, ?, ?, ?) ON CONFLICT (session, type, id) DO UPDATE SET value = excluded.value'
  )
  const deleteKey = db.prepare('DELETE FROM vault_keys WHERE session = ? AND type = ? AND id = ?')
  const holdsData = db.prepare('SELECT 1 FROM vault_creds WHERE session = @to UNION ALL SELECT 1 FROM vault_keys WHERE session = @to LIMIT 1').pluck()
  const copyMarks = {
    add: db.prepare('INSERT OR REPLACE INTO vault_meta (key, value) VALUES (?, ?)'),
    remove: db.prepare('DELETE FROM vault_meta WHERE key = ?'),
    unfinished: db.prepare(`SELECT marked FROM (${MARKED_COPIES}) WHERE marked NOT IN (SELECT session FROM vault_creds) ORDER BY marked`).pluck()
  }
  /** Inside applyBatch's transaction: a copy starts only into an empty session, and ends only while marked. */
  const markCopy = (session: string, step: 'begin' | 'end') => {
    if (step === 'begin') {
      if (holdsData.get({ to: session }) !== undefined)
        throw new VaultError(
          'INVALID_ARGUMENT',
          `Session "${session}" already has creds or keys; a copy never writes into a session that holds data. Nothing of this write landed.`
        )
      copyMarks.add.run(COPY_MARK + session, new Date().toISOString())
    } else if (copyMarks.remove.run(COPY_MARK + session).changes !== 1) {
      throw new VaultError(
        'NOT_FOUND',
        `The copy into session "${session}" was removed while it ran (dropped?); its last write did not land. Run the copy again.`
      )
    }
  }
  const applyBatch = db.transaction((session: string, batch: WriteBatch) => {
    if (batch.copy === 'begin') markCopy(session, 'begin')
    if (batch.creds) upsertCreds.run({ session, value: batch.creds })
    // Per key: bound by position (an object per key would cost the hot path); the order is the SQL's just above.
    for (const [type, id, value] of batch.set) upsertKey.run(session, type, id, value)
    for (const [type, id] of batch.del) deleteKey.run(session, type, id)
    if (batch.copy === 'end') markCopy(session, 'end')
    fence(session, batch.epoch) // last: the writes above took the write lock, so this reads the latest lease
  })
  /** A write refused by the file system (mode changed, folder read-only) names the path, not "retry". */
  const writing = <T>(fn: () => T): T => {
    try {
      return fn()
    } catch (err) {
      throw isPermissionError(err) ? notWritable(where, err) : err
    }
  }
  // An injected flush (tests) replaces both: every flush then goes through it.
  const barrier = walFile
    ? new DurabilityBarrier({
        sync: options.walSync ?? walFile.sync,
        syncNow: options.walSync ? undefined : walFile.syncNow,
        inlineBelowMs: options.inlineFlushBelowMs,
        failure: cause =>
          new VaultError(
            'BACKEND_UNAVAILABLE',
            `Flushing SQLite database ${where} to disk failed (${(cause as { code?: string }).code ?? (cause as Error).message}): the last writes may be lost, and this store refuses writes from now on. Check the disk, then close and reopen the store.`,
            { cause }
          )
      })
    : undefined
  let syncFull = false
  /** Switches the connection between FULL (a commit without company fsyncs in COMMIT) and NORMAL (the barrier flushes), only on a change. */
  const fsyncInCommit = (full: boolean) => {
    if (full === syncFull) return
    // Not a prepared statement: SQLite applies a pragma when it compiles it (exec: under 1 µs).
    db.exec(full ? 'PRAGMA synchronous = FULL' : 'PRAGMA synchronous = NORMAL')
    syncFull = full
  }
  /** A commit without company (the barrier claimed it): durable when COMMIT returns, as with `groupCommit: false`. */
  const commitAlone = (commit: () => void, barrier: DurabilityBarrier): Promise<void> => {
    const start = performance.now()
    try {
      writing(commit)
    } catch (err) {
      // COMMIT's fsync failed: final, as a failed flush of the barrier is.
      return Promise.reject(isIoError(err) ? barrier.failedAlone(err) : err)
    }
    barrier.flushedAlone(performance.now() - start)
    return COMMITTED
  }
  /**
   * Commits at once (synchronously: call order is commit order), then waits until the commit is
   * on disk. Not an async function: on the write path each promise costs a copy of every enabled
   * AsyncLocalStorage (one per Baileys socket), so a write returns the barrier's promise itself,
   * or one shared resolved promise when each commit is already durable (FULL, NORMAL).
   */
  const durably = (commit: () => void, join?: Pick<WriteBatch, 'joinNext' | 'joinUntil'>): Promise<void> => {
    if (barrier?.failed) return Promise.reject(barrier.failed)
    if (barrier) {
      // A `joinNext` commit (a send's record) never carries its own fsync: its send's keys will.
      const alone = !join?.joinNext && barrier.claimAlone()
      fsyncInCommit(alone)
      if (alone) return commitAlone(commit, barrier)
    }
    try {
      writing(commit)
    } catch (err) {
      return Promise.reject(err)
    }
    return barrier ? barrier.wait(join?.joinNext ? { joinNext: true, until: join.joinUntil } : undefined) : COMMITTED
  }
  const deleteCreds = db.prepare('DELETE FROM vault_creds WHERE session = @session')
  const deleteKeys = db.prepare('DELETE FROM vault_keys WHERE session = @session')
  const dropSession = db.transaction((session: string) => {
    deleteCreds.run({ session })
    deleteKeys.run({ session })
    copyMarks.remove.run(COPY_MARK + session)
  })
  const renameStatements = {
    taken: holdsData,
    creds: db.prepare('UPDATE vault_creds SET session = @to WHERE session = @from'),
    keys: db.prepare('UPDATE vault_keys SET session = @to WHERE session = @from')
  }
  /** One transaction: the session is under its old id or its new one, never both or half. */
  const renameSession = db.transaction((from: string, to: string) => {
    if (renameStatements.taken.get({ to }) !== undefined) throw renameTargetTaken(to)
    renameStatements.creds.run({ from, to })
    renameStatements.keys.run({ from, to })
  })

  const countByType = db.prepare('SELECT type, count(*) AS n FROM vault_keys WHERE session = @session GROUP BY type')

  const driver: Driver = {
    kind: 'sqlite',
    capabilities: { snapshot: true, rename: true, commitsOnCall: true, hiddenCopy: true },
    lease: barrier ? durableLease(lease, barrier) : lease,
    ...reader,
    // joinNext: committed now all the same; only its flush waits for the next commit's.
    write: (session, batch) => durably(() => applyBatch(session, batch), batch),
    rename: (from, to) => durably(() => renameSession(from, to)),
    async *hiddenCopies() {
      yield* copyMarks.unfinished.all() as string[]
    },
    async countKeys(session) {
      const counts: Record<string, number> = {}
      for (const { type, n } of countByType.all({ session }) as Array<{ type: string; n: number }>) counts[type] = n
      return counts
    },
    drop: session => durably(() => dropSession(session)),
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
      await barrier?.idle()
      // A user-owned connection keeps the NORMAL the barrier set at open, not a lone commit's FULL.
      if (db.open) fsyncInCommit(false)
      walFile?.close()
      if (owned && db.open) db.close()
    }
  }
  return readOnly ? refuseWrites(driver, `sqlite:${where}`) : driver
}
