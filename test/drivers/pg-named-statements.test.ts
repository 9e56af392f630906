import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { namedStatementOf } from '../../src/drivers/pg-types.js'

describe('PostgreSQL statements bound by name', () => {
  it('numbers each :name once, in order of first use, and binds an object', () => {
    const st = namedStatementOf<{ session: string; type: string; limit: number }>(
      'SELECT id FROM k WHERE session = :session AND type = :type AND session <> :session LIMIT :limit',
      false
    )
    const q = st({ limit: 5, type: 'pre-key', session: 's1' })
    assert.equal(q.text, 'SELECT id FROM k WHERE session = $1 AND type = $2 AND session <> $1 LIMIT $3')
    assert.deepEqual(q.values, ['s1', 'pre-key', 5])
    assert.equal(q.name, undefined)
  })

  it('leaves ::casts alone and names a prepared statement by its text', () => {
    const st = namedStatementOf<{ ids: string[]; ms: number }>("SELECT unnest(:ids::text[]), now() + :ms::float8 * interval '1 millisecond'", true)
    const q = st({ ids: ['a'], ms: 10 })
    assert.equal(q.text, "SELECT unnest($1::text[]), now() + $2::float8 * interval '1 millisecond'")
    assert.deepEqual(q.values, [['a'], 10])
    assert.match(q.name ?? '', /^baileys_vault_[0-9a-f]{20}$/)
  })
})
