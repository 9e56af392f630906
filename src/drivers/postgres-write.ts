import type { WriteBatch } from '../core/driver.js'
import { bufferView, typeIdKey } from '../core/bytes.js'
import type { GroupedBatch } from './group-commit.js'
import type { PgQueryable, Statement, Tables } from './postgres.js'
import { leaseLost } from './shared-lease.js'

/**
 * PostgreSQL writes: ONE statement applies the batches of many sessions (a group commit, or a
 * single write), so one implicit transaction, one round trip and one WAL flush for all of them.
 * Data-modifying CTEs upsert creds, upsert keys from `unnest` arrays and delete keys; each row
 * carries its session.
 *
 * Fenced (some batch carries a lease epoch), a first CTE locks, FOR SHARE and in session order,
 * the lease rows that still hold the expected epochs: an acquire (an UPDATE of that row) waits
 * for this statement to commit, and one that committed first is seen (READ COMMITTED re-checks a
 * locked row's latest version), so no epoch changes between the check and the commit. The rows
 * of a fenced batch land only if its session passed; the result lists the sessions that passed,
 * so a batch fenced out fails alone (LEASE_LOST) while the others commit.
 *
 * The values travel as ONE binary bytea parameter sliced by offset/length: a bytea[] array
 * would go as hex text, twice the bytes plus parsing on both sides.
 */
export function writeText(t: Tables, fenced: boolean): string {
  // A row of a fenced batch lands only if its session passed the fence.
  const pass = (row: string) => (fenced ? ` WHERE NOT ${row}.fenced OR ${row}.session IN (SELECT session FROM f)` : '')
  const flag = (n: number) => (fenced ? `, $${n}::bool[]` : '')
  const fencedCol = fenced ? ', fenced' : ''
  const fence = fenced
    ? `f AS (
        SELECT l.session FROM ${t.lease} l JOIN unnest($16::text[], $17::int8[]) AS e(session, epoch) ON l.session = e.session AND l.epoch = e.epoch
        WHERE l.owner <> '' ORDER BY l.session FOR SHARE OF l
      ), `
    : ''
  return `
      WITH ${fence}c AS (
        INSERT INTO ${t.creds} (session, value)
        SELECT u.session, substring($12::bytea FROM u.off FOR u.len)
        FROM unnest($1::text[], $2::int4[], $3::int4[]${flag(13)}) AS u(session, off, len${fencedCol})${pass('u')}
        ON CONFLICT (session) DO UPDATE SET value = excluded.value
      ), s AS (
        INSERT INTO ${t.keys} (session, type, id, value)
        SELECT u.session, u.type, u.id, substring($12::bytea FROM u.off FOR u.len)
        FROM unnest($4::text[], $5::text[], $6::text[], $7::int4[], $8::int4[]${flag(14)}) AS u(session, type, id, off, len${fencedCol})${pass('u')}
        ON CONFLICT (session, type, id) DO UPDATE SET value = excluded.value
      ), d AS (
        -- Rows found by one primary-key probe each (see getMany), deleted by ctid: a plain join
        -- got a plan that scanned every key of the session. Writes to a session are serialised
        -- by its one writer, so no concurrent update moves these rows between probe and delete.
        DELETE FROM ${t.keys} WHERE ctid = ANY (ARRAY(
          SELECT k.ctid FROM unnest($9::text[], $10::text[], $11::text[]${flag(15)}) AS x(session, type, id${fencedCol})
          CROSS JOIN LATERAL (SELECT ctid FROM ${t.keys} WHERE session = x.session AND type = x.type AND id = x.id LIMIT 1) k${pass('x')}))
      )
      ${fenced ? 'SELECT array(SELECT session FROM f) AS passed' : 'SELECT 1'}`
}

/** The statement's parameters for batches of distinct sessions. */
export function writeValues(batches: readonly GroupedBatch[]): { values: unknown[]; fenced: boolean } {
  const creds: { sessions: string[]; offsets: number[]; lengths: number[]; fenced: boolean[] } = { sessions: [], offsets: [], lengths: [], fenced: [] }
  const set = {
    sessions: [] as string[],
    types: [] as string[],
    ids: [] as string[],
    offsets: [] as number[],
    lengths: [] as number[],
    fenced: [] as boolean[]
  }
  const del = { sessions: [] as string[], types: [] as string[], ids: [] as string[], fenced: [] as boolean[] }
  const fence = { sessions: [] as string[], epochs: [] as number[] }
  const blobs: Buffer[] = []
  let offset = 1 // SQL substring() counts from 1
  const addBlob = (bytes: Uint8Array) => {
    blobs.push(bufferView(bytes))
    const at = offset
    offset += bytes.byteLength
    return at
  }
  // A fixed row order (session, type, id): concurrent writers lock rows in the same order and cannot deadlock.
  const sorted = [...batches].sort((a, b) => (a.session < b.session ? -1 : a.session > b.session ? 1 : 0))
  for (const { session, batch } of sorted) {
    const fenced = batch.epoch !== undefined
    if (fenced) {
      fence.sessions.push(session)
      fence.epochs.push(batch.epoch!)
    }
    if (batch.creds) {
      creds.sessions.push(session)
      creds.lengths.push(batch.creds.byteLength)
      creds.offsets.push(addBlob(batch.creds))
      creds.fenced.push(fenced)
    }
    for (const [type, id, value] of finalRows(batch)) {
      if (value === null) {
        del.sessions.push(session)
        del.types.push(type)
        del.ids.push(id)
        del.fenced.push(fenced)
      } else {
        set.sessions.push(session)
        set.types.push(type)
        set.ids.push(id)
        set.lengths.push(value.byteLength)
        set.offsets.push(addBlob(value))
        set.fenced.push(fenced)
      }
    }
  }
  const blob = blobs.length === 1 ? blobs[0] : Buffer.concat(blobs)
  const values: unknown[] = [
    ...[creds.sessions, creds.offsets, creds.lengths],
    ...[set.sessions, set.types, set.ids, set.offsets, set.lengths],
    ...[del.sessions, del.types, del.ids],
    blob
  ]
  const isFenced = fence.sessions.length > 0
  if (isFenced) values.push(creds.fenced, set.fenced, del.fenced, fence.sessions, fence.epochs)
  return { values, fenced: isFenced }
}

/** A batch's key rows, set then delete (last write of a key wins: the CTEs must not touch a row twice), sorted by (type, id). */
function finalRows(batch: WriteBatch): Array<[string, string, Uint8Array | null]> {
  const final = new Map<string, [string, string, Uint8Array | null]>()
  for (const [type, id, value] of batch.set) final.set(typeIdKey(type, id), [type, id, value])
  for (const [type, id] of batch.del) final.set(typeIdKey(type, id), [type, id, null])
  return [...final.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, row]) => row)
}

const isEmpty = (b: WriteBatch) => !b.creds && b.set.length === 0 && b.del.length === 0 && b.epoch === undefined

/**
 * SQLSTATE classes of errors caused by the data of some batch (22 data exception, e.g. a NUL in
 * text; 23 integrity constraint; 54 program limit exceeded): the group is retried one batch at
 * a time so that batch fails alone. Any other error (connection lost, statement timeout, server
 * shutting down) is the transaction's: the whole group failed, none of it landed.
 */
const isDataError = (err: unknown) => /^(22|23|54)/.test(String((err as { code?: unknown })?.code ?? ''))

/** Splits a group into rounds in which each session appears at most once, in arrival order. */
function rounds(group: readonly GroupedBatch[]): number[][] {
  const out: number[][] = []
  const lastRound = new Map<string, number>()
  group.forEach(({ session }, i) => {
    const r = (lastRound.get(session) ?? -1) + 1
    ;(out[r] ??= []).push(i)
    lastRound.set(session, r)
  })
  return out
}

export interface PostgresWriterOptions {
  pool: PgQueryable
  write: Statement
  writeFenced: Statement
}

/**
 * Applies batches: `applyGroup` for group commit (group-commit.ts), `writeOne` for a single
 * write. Outcomes per batch: undefined (committed) or its own error (LEASE_LOST, bad data).
 */
export function postgresWriter({ pool, write, writeFenced }: PostgresWriterOptions) {
  /** One statement for batches of distinct sessions. Throws if the statement failed (nothing landed). */
  const statement = async (batches: readonly GroupedBatch[]): Promise<unknown[]> => {
    const live = batches.filter(b => !isEmpty(b.batch))
    if (live.length === 0) return batches.map(() => undefined)
    const { values, fenced } = writeValues(live)
    if (!fenced) {
      await pool.query(write(values))
      return batches.map(() => undefined)
    }
    const passed = new Set<string>((await pool.query(writeFenced(values))).rows[0].passed)
    return batches.map(({ session, batch }) => (batch.epoch === undefined || passed.has(session) ? undefined : leaseLost(session, batch.epoch)))
  }

  /** A statement whose failure is one batch's data is retried one batch at a time: that batch fails alone. */
  const isolated = async (batches: readonly GroupedBatch[]): Promise<unknown[]> => {
    try {
      return await statement(batches)
    } catch (err) {
      if (batches.length === 1 || !isDataError(err)) throw err
      const outcomes: unknown[] = []
      for (const b of batches)
        outcomes.push(
          await statement([b]).then(
            ([o]) => o,
            (e: unknown) => (isDataError(e) ? e : Promise.reject(e))
          )
        )
      return outcomes
    }
  }

  async function applyGroup(group: readonly GroupedBatch[]): Promise<unknown[]> {
    const outcomes: unknown[] = new Array(group.length).fill(undefined)
    // A session twice in a group (rare: two auth states on one session) goes in two statements, in order.
    const all = rounds(group)
    for (const [r, round] of all.entries()) {
      try {
        const results = await isolated(round.map(i => group[i]))
        round.forEach((i, k) => (outcomes[i] = results[k]))
      } catch (err) {
        if (r === 0) throw err
        // Earlier rounds committed: only this round and the later ones (never sent) fail.
        for (const later of all.slice(r)) for (const i of later) outcomes[i] = err
        break
      }
    }
    return outcomes
  }

  async function writeOne(session: string, batch: WriteBatch): Promise<void> {
    const [outcome] = await statement([{ session, batch }])
    if (outcome !== undefined) throw outcome
  }

  return { applyGroup, writeOne }
}
