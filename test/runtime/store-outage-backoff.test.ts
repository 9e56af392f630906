/** The store-outage bookkeeping of a session: one report per problem, capped and jittered backoff, options checked. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { VaultError } from '../../src/core/errors.js'
import { canTransition } from '../../src/runtime/states.js'
import { StoreOutage, checkStoreRetry, isStoreUnavailable } from '../../src/runtime/store-outage.js'

const down = () => new VaultError('BACKEND_UNAVAILABLE', 'The postgres store postgres://u:***@127.0.0.1/db failed while writing: ECONNREFUSED')

describe('StoreOutage', () => {
  test('doubles from initialMs up to maxMs, each wait 50-100% of that; connected() starts over', () => {
    const lowest = new StoreOutage({ initialMs: 100, maxMs: 1_000 }, () => 0)
    const highest = new StoreOutage({ initialMs: 100, maxMs: 1_000 }, () => 0.999999)
    assert.deepEqual(
      Array.from({ length: 7 }, () => lowest.nextDelayMs()),
      [50, 100, 200, 400, 500, 500, 500]
    )
    assert.deepEqual(
      Array.from({ length: 7 }, () => highest.nextDelayMs()),
      [100, 200, 400, 800, 1_000, 1_000, 1_000]
    )
    lowest.connected()
    assert.equal(lowest.nextDelayMs(), 50)
    // Control: without jitter every session would retry in step; with Math.random they spread.
    const spread = new Set(Array.from({ length: 20 }, () => new StoreOutage({ initialMs: 1_000 }).nextDelayMs()))
    assert.ok(spread.size > 1, 'jittered waits differ')
  })

  test('one report per problem; a committed write ends it', () => {
    const outage = new StoreOutage()
    assert.equal(outage.problem, undefined as unknown)
    assert.equal(outage.failed(down()), true, 'the first failure is reported')
    assert.equal(outage.failed(down()), false, 'later ones are not')
    assert.equal(outage.failures, 2)
    assert.equal(outage.problem!.code, 'BACKEND_UNAVAILABLE')
    assert.equal(outage.recovered(), true)
    assert.equal(outage.problem, undefined)
    assert.equal(outage.recovered(), false)
    assert.equal(outage.failed(down()), true, 'a new problem is reported again')
  })

  test('options: bad values are INVALID_ARGUMENT; only BACKEND_UNAVAILABLE is an outage', () => {
    for (const bad of [null, 5, { initialMs: 0 }, { maxMs: -1 }, { initialMs: 'x' }, { initialMs: 10, maxMs: 5 }]) {
      assert.throws(
        () => checkStoreRetry(bad),
        (e: unknown) => e instanceof VaultError && e.code === 'INVALID_ARGUMENT',
        JSON.stringify(bad)
      )
    }
    checkStoreRetry(undefined)
    checkStoreRetry({ initialMs: 10, maxMs: 10 })
    assert.equal(isStoreUnavailable(down()), true)
    assert.equal(isStoreUnavailable(new VaultError('LEASE_LOST', 'x')), false)
    assert.equal(isStoreUnavailable(new Error('BACKEND_UNAVAILABLE')), false)
  })

  test('an outage while standing by or before linking is a disconnect, retried', () => {
    assert.equal(canTransition('standby', 'disconnected'), true)
    assert.equal(canTransition('unregistered', 'disconnected'), true)
  })
})
