import { inTransaction } from './pg-transaction.js'
import type { PgPoolLike, Tables } from './pg-types.js'

/**
 * How the `value` columns (creds and keys) keep large values, set on every writable open.
 *
 * A Signal session of 2 KB or more is TOAST-compressed by the server on every write, with
 * pglz by default: on a gateway the server runs on the same cores as Node, and that CPU is
 * taken from the crypto. Measured server CPU per write (40 sessions per statement), 4 KB / 8 KB
 * session JSON: pglz 48-55 / 93-101 µs, no compression (EXTERNAL) 52 / 75-84 µs, lz4 40 / 43-46
 * µs, and lz4 stores a quarter of EXTERNAL's bytes. So lz4 where the server has it (PostgreSQL
 * 14+ built with lz4), else EXTERNAL (out of line, never compressed).
 *
 * Both are catalog-only changes: no row is rewritten; values written from then on use the new
 * way, older ones stay readable as they are. The ALTER needs a short exclusive lock on the
 * table: it waits at most `lockTimeoutMs` (then the open goes on unchanged and the next one
 * tries again), and a role that does not own the tables keeps them as they are.
 */
export interface ValueStorage {
  /** The pg_attribute column that tells, and the value it has when done. */
  column: 'attcompression' | 'attstorage'
  done: string
  alter: string
}

export const LZ4: ValueStorage = { column: 'attcompression', done: 'l', alter: 'SET COMPRESSION lz4' }
export const EXTERNAL: ValueStorage = { column: 'attstorage', done: 'e', alter: 'SET STORAGE EXTERNAL' }

/** lz4 when the server can compress with it, else no compression. */
export async function valueStorageFor(pool: PgPoolLike): Promise<ValueStorage> {
  const { rows } = await pool.query({
    text: `SELECT coalesce((SELECT 'lz4' = ANY (enumvals) FROM pg_settings WHERE name = 'default_toast_compression'), false) AS lz4`
  })
  return rows[0].lz4 ? LZ4 : EXTERNAL
}

/** SQLSTATEs that leave the tables as they are: not the owner (42501), lock not had in time (55P03). */
const SKIPPED = new Set(['42501', '55P03'])

export async function tuneValueStorage(pool: PgPoolLike, t: Tables, want: ValueStorage, lockTimeoutMs = 2000): Promise<void> {
  const { rows } = await pool.query({
    text: `SELECT attrelid::regclass::text AS rel FROM pg_attribute WHERE attrelid IN (to_regclass($1), to_regclass($2)) AND attname = 'value' AND ${want.column}::text <> $3`,
    values: [t.creds, t.keys, want.done]
  })
  if (rows.length === 0) return
  try {
    await inTransaction(pool, 'BEGIN', async client => {
      await client.query({ text: `SET LOCAL lock_timeout = ${Math.max(1, Math.floor(lockTimeoutMs))}` })
      for (const { rel } of rows as Array<{ rel: string }>) await client.query({ text: `ALTER TABLE ${rel} ALTER COLUMN value ${want.alter}` })
    })
  } catch (err) {
    if (!SKIPPED.has(String((err as { code?: unknown }).code))) throw err
  }
}
