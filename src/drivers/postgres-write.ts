import type { WriteBatch } from '../core/driver.js'
import { bufferView, joinBuffers, typeIdKey } from '../core/bytes.js'
import { isEmptyBatch, type GroupedBatch, type GroupMember } from './group-commit.js'
import type { PgQueryable, Statement, Tables } from './pg-types.js'
import { leaseLost } from './shared-lease.js'

/**
 * PostgreSQL writes: ONE statement applies the batches of many sessions (a group commit, or a
 * single write), so one implicit transaction, one round trip and one WAL flush for all of them.
 * Data-modifying CTEs upsert creds, upsert keys from `unnest` arrays and delete keys; each row
 * carries its session.
 *
 * Only the parts a group needs are in its statement (`WriteShape`: creds, key sets, key deletes,
 * fence): most groups are key sets only, and a statement with the empty parts too cost the
 * server about twice the CPU (each part is a table modification to set up, plan and run).
 * Each shape is its own named statement, so at most 16 per connection.
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
export interface WriteShape {
  /** Some batch carries a lease epoch. */
  fenced: boolean
  creds: boolean
  set: boolean
  del: boolean
}

/** The columns `writeValues` fills; a statement takes those of its shape, in its own order. */
interface WriteColumns {
  blob: Buffer
  credsSessions: string[]
  credsOffsets: number[]
  credsLengths: number[]
  credsFenced: boolean[]
  setSessions: string[]
  setTypes: string[]
  setIds: string[]
  setOffsets: number[]
  setLengths: number[]
  setFenced: boolean[]
  delSessions: string[]
  delTypes: string[]
  delIds: string[]
  delFenced: boolean[]
  fenceSessions: string[]
  fenceEpochs: number[]
}

export interface WriteText {
  text: string
  /** The statement's parameters, $1 first. */
  params: ReadonlyArray<keyof WriteColumns>
}

/** The statement of one shape (at least one part, or fenced). */
export function writeText(t: Tables, shape: WriteShape): WriteText {
  const params: Array<keyof WriteColumns> = []
  const p = (column: keyof WriteColumns, type: string) => {
    const at = params.indexOf(column)
    if (at >= 0) return `$${at + 1}::${type}`
    params.push(column)
    return `$${params.length}::${type}`
  }
  const { fenced } = shape
  // A row of a fenced batch lands only if its session passed the fence.
  const pass = (row: string) => (fenced ? ` WHERE NOT ${row}.fenced OR ${row}.session IN (SELECT session FROM f)` : '')
  const flag = (column: keyof WriteColumns) => (fenced ? `, ${p(column, 'bool[]')}` : '')
  const fencedCol = fenced ? ', fenced' : ''
  const parts: Array<[name: string, text: string]> = []
  if (fenced) {
    parts.push([
      'f',
      `SELECT l.session FROM ${t.lease} l JOIN unnest(${p('fenceSessions', 'text[]')}, ${p('fenceEpochs', 'int8[]')}) AS e(session, epoch) ON l.session = e.session AND l.epoch = e.epoch
        WHERE l.owner <> '' ORDER BY l.session FOR SHARE OF l`
    ])
  }
  if (shape.creds) {
    parts.push([
      'c',
      `INSERT INTO ${t.creds} (session, value)
        SELECT u.session, substring(${p('blob', 'bytea')} FROM u.off FOR u.len)
        FROM unnest(${p('credsSessions', 'text[]')}, ${p('credsOffsets', 'int4[]')}, ${p('credsLengths', 'int4[]')}${flag('credsFenced')}) AS u(session, off, len${fencedCol})${pass('u')}
        ON CONFLICT (session) DO UPDATE SET value = excluded.value`
    ])
  }
  if (shape.set) {
    parts.push([
      's',
      `INSERT INTO ${t.keys} (session, type, id, value)
        SELECT u.session, u.type, u.id, substring(${p('blob', 'bytea')} FROM u.off FOR u.len)
        FROM unnest(${p('setSessions', 'text[]')}, ${p('setTypes', 'text[]')}, ${p('setIds', 'text[]')}, ${p('setOffsets', 'int4[]')}, ${p('setLengths', 'int4[]')}${flag('setFenced')}) AS u(session, type, id, off, len${fencedCol})${pass('u')}
        ON CONFLICT (session, type, id) DO UPDATE SET value = excluded.value`
    ])
  }
  if (shape.del) {
    // Rows found by one primary-key probe each (see getMany), deleted by ctid: a plain join
    // got a plan that scanned every key of the session. Writes to a session are serialised
    // by its one writer, so no concurrent update moves these rows between probe and delete.
    parts.push([
      'd',
      `DELETE FROM ${t.keys} WHERE ctid = ANY (ARRAY(
          SELECT k.ctid FROM unnest(${p('delSessions', 'text[]')}, ${p('delTypes', 'text[]')}, ${p('delIds', 'text[]')}${flag('delFenced')}) AS x(session, type, id${fencedCol})
          CROSS JOIN LATERAL (SELECT ctid FROM ${t.keys} WHERE session = x.session AND type = x.type AND id = x.id LIMIT 1) k${pass('x')}))`
    ])
  }
  if (parts.length === 0) throw new Error('a write statement needs a part')
  // One part and no fence: the bare statement, no CTE around it.
  const [only, second] = parts
  if (!fenced && only !== undefined && second === undefined) return { text: only[1], params }
  const ctes = parts
    .map(
      ([name, text]) => `${name} AS (
        ${text}
      )`
    )
    .join(', ')
  return {
    text: `WITH ${ctes}
      ${fenced ? 'SELECT array(SELECT session FROM f) AS passed' : 'SELECT 1'}`,
    params
  }
}

/** The statement's columns for batches of distinct sessions, and the shape they need. */
export function writeValues(batches: readonly GroupedBatch[]): { columns: WriteColumns; shape: WriteShape } {
  const c: WriteColumns = {
    blob: Buffer.alloc(0),
    credsSessions: [],
    credsOffsets: [],
    credsLengths: [],
    credsFenced: [],
    setSessions: [],
    setTypes: [],
    setIds: [],
    setOffsets: [],
    setLengths: [],
    setFenced: [],
    delSessions: [],
    delTypes: [],
    delIds: [],
    delFenced: [],
    fenceSessions: [],
    fenceEpochs: []
  }
  const blobs: Buffer[] = []
  let offset = 1 // SQL substring() counts from 1
  const addBlob = (bytes: Uint8Array) => {
    blobs.push(bufferView(bytes))
    const at = offset
    offset += bytes.byteLength
    return at
  }
  // A fixed row order (session, type, id): concurrent writers lock rows in the same order and cannot deadlock.
  const sorted = sessionOnce(batches).sort((a, b) => (a.session < b.session ? -1 : a.session > b.session ? 1 : 0))
  for (const { session, batch } of sorted) {
    const fenced = batch.epoch !== undefined
    if (fenced) {
      c.fenceSessions.push(session)
      c.fenceEpochs.push(batch.epoch!)
    }
    if (batch.creds) {
      c.credsSessions.push(session)
      c.credsLengths.push(batch.creds.byteLength)
      c.credsOffsets.push(addBlob(batch.creds))
      c.credsFenced.push(fenced)
    }
    for (const [type, id, value] of finalRows(batch)) {
      if (value === null) {
        c.delSessions.push(session)
        c.delTypes.push(type)
        c.delIds.push(id)
        c.delFenced.push(fenced)
      } else {
        c.setSessions.push(session)
        c.setTypes.push(type)
        c.setIds.push(id)
        c.setLengths.push(value.byteLength)
        c.setOffsets.push(addBlob(value))
        c.setFenced.push(fenced)
      }
    }
  }
  c.blob = joinBuffers(blobs)
  const shape = { fenced: c.fenceSessions.length > 0, creds: c.credsSessions.length > 0, set: c.setSessions.length > 0, del: c.delSessions.length > 0 }
  return { columns: c, shape }
}

/** One batch per session: the batches a round gave one session (rounds: same epoch, disjoint keys) as one, so its rows sort together. */
function sessionOnce(batches: readonly GroupedBatch[]): GroupedBatch[] {
  const bySession = new Map<string, GroupedBatch>()
  for (const g of batches) {
    const seen = bySession.get(g.session)
    if (!seen) bySession.set(g.session, g)
    else
      bySession.set(g.session, {
        session: g.session,
        batch: {
          creds: seen.batch.creds ?? g.batch.creds,
          set: [...seen.batch.set, ...g.batch.set],
          del: [...seen.batch.del, ...g.batch.del],
          epoch: g.batch.epoch
        }
      })
  }
  return [...bySession.values()]
}

/** A batch's key rows, set then delete (last write of a key wins: the CTEs must not touch a row twice), sorted by (type, id). */
function finalRows(batch: WriteBatch): Array<[string, string, Uint8Array | null]> {
  const final = new Map<string, [string, string, Uint8Array | null]>()
  for (const [type, id, value] of batch.set) final.set(typeIdKey(type, id), [type, id, value])
  for (const [type, id] of batch.del) final.set(typeIdKey(type, id), [type, id, null])
  return [...final.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, row]) => row)
}

/**
 * SQLSTATE classes of errors caused by the data of some batch (22 data exception, e.g. a NUL in
 * text; 23 integrity constraint; 54 program limit exceeded): the group is retried one batch at
 * a time so that batch fails alone. Any other error (connection lost, statement timeout, server
 * shutting down) is the transaction's: the whole group failed, none of it landed.
 */
const isDataError = (err: unknown) => /^(22|23|54)/.test(String((err as { code?: unknown })?.code ?? ''))

/**
 * Splits a group into rounds (one statement each), in arrival order. A session's batch shares
 * the round of its previous ones when it carries the same epoch and touches none of their keys
 * or creds (a retry store record and the keys of its send: one statement, one round trip);
 * otherwise it goes in the next round, so writes of one key land in order.
 */
function statementRounds(group: readonly GroupedBatch[]): GroupMember[][] {
  const out: GroupMember[][] = []
  const last = new Map<string, { round: number; batches: WriteBatch[] }>()
  group.forEach(({ session, batch }, at) => {
    const prev = last.get(session)
    const joins = prev !== undefined && disjoint(prev.batches, batch)
    const round = prev === undefined ? 0 : joins ? prev.round : prev.round + 1
    ;(out[round] ??= []).push({ session, batch, at })
    if (joins) prev.batches.push(batch)
    else last.set(session, { round, batches: [batch] })
  })
  return out
}

/** Same epoch, at most one creds, no key in common: the batches can share one statement. */
function disjoint(batches: readonly WriteBatch[], batch: WriteBatch): boolean {
  if (batches.some(b => b.epoch !== batch.epoch || (b.creds && batch.creds))) return false
  const keys = new Set<string>()
  for (const b of batches) for (const [type, id] of [...b.set, ...b.del]) keys.add(typeIdKey(type, id))
  return [...batch.set, ...batch.del].every(([type, id]) => !keys.has(typeIdKey(type, id)))
}

export interface PostgresWriterOptions {
  pool: PgQueryable
  /** The statement of a shape, with its parameter order (postgres.ts memoises one per shape). */
  write: (shape: WriteShape) => { statement: Statement; params: WriteText['params'] }
}

/**
 * Applies batches: `applyGroup` for group commit (group-commit.ts), `writeOne` for a single
 * write. Outcomes per batch: undefined (committed) or its own error (LEASE_LOST, bad data).
 */
export function postgresWriter({ pool, write }: PostgresWriterOptions) {
  // .then/.catch rather than async functions on the common path (one round, no data error): every
  // promise made per group is copied onto by each AsyncLocalStorage in the process (one per
  // Baileys socket).

  /** One statement for batches of distinct sessions. Rejects if the statement failed (nothing landed). */
  const statement = (batches: readonly GroupedBatch[]): Promise<unknown[]> => {
    const live = batches.filter(b => !isEmptyBatch(b.batch))
    if (live.length === 0) return Promise.resolve(batches.map(() => undefined))
    const { columns, shape } = writeValues(live)
    const { statement, params } = write(shape)
    return pool.query(statement(params.map(name => columns[name]))).then(({ rows }) => {
      if (!shape.fenced) return batches.map(() => undefined)
      const passed = new Set<string>(rows[0].passed)
      return batches.map(({ session, batch }) => (batch.epoch === undefined || passed.has(session) ? undefined : leaseLost(session, batch.epoch)))
    })
  }

  /** A statement whose failure is one batch's data is retried one batch at a time: that batch fails alone. */
  const isolated = (batches: readonly GroupedBatch[]): Promise<unknown[]> =>
    statement(batches).catch(async (err: unknown) => {
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
    })

  function applyGroup(group: readonly GroupedBatch[]): Promise<unknown[]> {
    // A session twice in a group (rare: two auth states on one session) goes in two statements, in order.
    const all = statementRounds(group)
    return all.length === 1 ? isolated(group) : inRounds(group, all)
  }

  async function inRounds(group: readonly GroupedBatch[], all: GroupMember[][]): Promise<unknown[]> {
    const outcomes: unknown[] = new Array(group.length).fill(undefined)
    for (const [r, round] of all.entries()) {
      try {
        const results = await isolated(round)
        round.forEach(({ at }, k) => (outcomes[at] = results[k]))
      } catch (err) {
        if (r === 0) throw err
        // Earlier rounds committed: only this round and the later ones (never sent) fail.
        for (const later of all.slice(r)) for (const { at } of later) outcomes[at] = err
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
