import type { PgClientLike, PgPoolLike } from './pg-types.js'

/**
 * Runs `fn` in one transaction on its own connection: COMMIT when it resolves, ROLLBACK when it
 * throws; a connection whose COMMIT or ROLLBACK failed is released as broken, never reused.
 */
export async function inTransaction<T>(pool: PgPoolLike, begin: string, fn: (client: PgClientLike) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  let failed = false
  try {
    await client.query({ text: begin })
    return await fn(client)
  } catch (err) {
    failed = true
    throw err
  } finally {
    try {
      await client.query({ text: failed ? 'ROLLBACK' : 'COMMIT' })
      client.release()
    } catch (err) {
      client.release(err as Error)
    }
  }
}
