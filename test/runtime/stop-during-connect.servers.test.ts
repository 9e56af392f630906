/**
 * A stop that lands while a connection attempt is still waiting on the store (real PostgreSQL;
 * the attempt took the lease and its creds read waits on another client's table lock). Seen in
 * the full soak: a stop released the lease while an attempt was in flight; the attempt's next
 * fenced write was refused (LEASE_LOST) and turned the `stopped` session `failed`.
 * 1. The stop waits for the attempt before it gives the lease back (control: the code before the
 *    fix released it while the attempt still waited), and the next owner takes it at once.
 * 2. An attempt that outlives the stop's deadline leaves the session `stopped`, whatever it meets.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import pg from 'pg'
import { openStore } from '../../src/open-store.js'
import { startSession } from '../../src/runtime/start-session.js'
import type { SessionState } from '../../src/runtime/states.js'
import { freshPostgres } from '../helpers/servers.js'
import { eventually } from '../helpers/sim-lifecycle.js'

const cleanups: Array<() => Promise<void>> = []
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

/** A second connection holding `lockSql` in an open transaction until `release()`. */
async function holdLock(url: string, lockSql: string) {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  await client.query('BEGIN')
  await client.query(lockSql)
  const watcher = new pg.Client({ connectionString: url })
  await watcher.connect()
  cleanups.push(() => watcher.end())
  return {
    release: async () => {
      await client.query('COMMIT')
      await client.end()
    },
    /** A query on a third connection, which no lock holds up. */
    query: <R extends pg.QueryResultRow>(sql: string) => watcher.query<R>(sql),
    waiters: async () => {
      const { rows } = await watcher.query<{ n: string }>(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
      )
      return Number(rows[0]?.n)
    }
  }
}

/** A session standing by behind another owner; once the creds table is locked, the owner lets go: the session takes the lease and its creds read waits. */
async function attemptWaitingOnCreds(label: string, options: { stopDeadlineMs?: number }) {
  const target = await freshPostgres(label)
  cleanups.push(target.cleanup)
  const store = await openStore(target.url)
  await (await store.useAuthState('s')).saveCreds()
  const other = await store.acquireLease('s', { owner: 'other', ttlMs: 60_000 })
  const states: SessionState[] = []
  const session = await startSession({ store, sessionId: 's', lease: { ttlMs: 3_000 }, ...options })
  session.on('state', e => states.push(e.state))
  await eventually(async () => session.state === 'standby', 'the session stands by', 10_000)
  const blocker = await holdLock(target.url, 'LOCK TABLE vault_creds IN ACCESS EXCLUSIVE MODE')
  await store.releaseLease(other)
  await eventually(async () => (await blocker.waiters()) > 0, 'the attempt waits on the lock', 10_000)
  const history = () => `states: ${states.join(' → ')}`
  const leaseOwner = async () => (await blocker.query<{ owner: string }>("SELECT owner FROM vault_lease WHERE session = 's'")).rows[0]?.owner
  return { url: target.url, store, session, states, blocker, history, leaseOwner }
}

async function nextOwnerTakesLease(url: string): Promise<void> {
  const store = await openStore(url)
  try {
    assert.equal((await store.acquireLease('s', { owner: 'next', ttlMs: 15_000 })).owner, 'next')
  } finally {
    await store.close()
  }
}

describe('a stop during a connection attempt', () => {
  it('waits for the attempt before it gives the lease back, then ends stopped', async () => {
    const { url, store, session, states, blocker, history, leaseOwner } = await attemptWaitingOnCreds('stop-waits', {})
    const owner = await leaseOwner()
    const stopped = session.stop()
    // While the attempt waits, the lease stays with it: a write it makes next is still fenced by a lease it holds.
    for (let i = 0; i < 25; i++) {
      await new Promise(resolve => setTimeout(resolve, 20))
      assert.equal(await leaseOwner(), owner, 'the stop released the lease while its connection attempt still ran')
    }
    const closed = stopped.then(() => store.close()) // as `run` does once its sessions stopped
    await blocker.release()
    await closed
    assert.equal(session.state, 'stopped', history())
    assert.ok(!states.includes('failed'), history())
    await nextOwnerTakesLease(url)
  })

  it('an attempt that outlives the stop and meets the closed store leaves the session stopped, not failed', async () => {
    const { store, session, states, blocker, history } = await attemptWaitingOnCreds('stop-deadline', { stopDeadlineMs: 100 })
    await session.stop() // gives up waiting at its deadline
    const closed = store.close()
    await blocker.release()
    await closed
    await eventually(async () => (await blocker.waiters()) === 0, 'the attempt ended', 10_000)
    await new Promise(resolve => setTimeout(resolve, 50)) // the attempt's last turns
    assert.equal(session.state, 'stopped', history())
    assert.ok(!states.includes('failed'), history())
  })
})
