import { createHash } from 'node:crypto'

/**
 * The types the PostgreSQL driver's modules share (postgres.ts, postgres-write.ts,
 * postgres-lease.ts, pg-transaction.ts, pg-value-storage.ts), in a module of their own so that
 * none of them imports postgres.ts back.
 */

/** The part of `pg`'s query API this driver uses (a Pool or a checked-out PoolClient). */
export interface PgQueryable {
  query(config: { text: string; values?: unknown[]; name?: string }): Promise<{ rows: any[] }> // eslint-disable-line @typescript-eslint/no-explicit-any -- pg's own row type
}

/** The part of `pg.PoolClient` this driver uses. */
export interface PgClientLike extends PgQueryable {
  release(err?: Error | boolean): void
}

/** The part of `pg.Pool` this driver uses. */
export interface PgPoolLike extends PgQueryable {
  connect(): Promise<PgClientLike>
  end(): Promise<void>
}

export interface Tables {
  schema?: string
  meta: string
  creds: string
  keys: string
  /** Lease rows (postgres-lease.ts), created on first use of a lease. */
  lease: string
  /** Identifies this set of tables for the advisory lock. */
  lockKey: string
}

export type Statement = (values: unknown[]) => { name?: string; text: string; values: unknown[] }

/** A named statement: planned once per connection, then only bound and executed. */
export function statementOf(text: string, prepared: boolean): Statement {
  if (!prepared) return values => ({ text, values })
  const name = `baileys_vault_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`
  return values => ({ name, text, values })
}

/** A statement bound by name: `:session` in its text is a parameter, `::type` a cast. */
export type NamedStatement<P extends object> = (params: P) => { name?: string; text: string; values: unknown[] }

const PARAM = /(?<!:):([A-Za-z_][A-Za-z0-9_]*)/g

/**
 * Compiles `:name` parameters to PostgreSQL's `$n` once, so the names stay next to the SQL
 * that uses them and a call binds an object, never a list whose order lives elsewhere.
 */
export function namedStatementOf<P extends object>(text: string, prepared: boolean): NamedStatement<P> {
  const names: string[] = []
  const compiled = text.replace(PARAM, (_, name: string) => {
    const at = names.indexOf(name)
    if (at >= 0) return `$${at + 1}`
    names.push(name)
    return `$${names.length}`
  })
  const positional = statementOf(compiled, prepared)
  return params => positional(names.map(name => (params as Record<string, unknown>)[name]))
}
