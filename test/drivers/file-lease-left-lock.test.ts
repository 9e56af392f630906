/**
 * A lease lock this process left behind: its release could not unlink the lock file (the folder
 * was read-only for a while), so the file still names this pid. The next lease step must take it
 * over, not wait on itself until LOCK_WAIT_MS and fail with BACKEND_UNAVAILABLE for as long as
 * the process lives (seen as a `run` that never came back after a read-only folder).
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { openStore } from '../../src/open-store.js'

const dir = mkdtempSync(join(tmpdir(), 'vault-left-lock-'))
after(() => rmSync(dir, { recursive: true, force: true }))

test('a lock naming this pid that no step holds is taken over at once', async () => {
  const store = await openStore(`file:${dir}`)
  try {
    const grant = await store.acquireLease('s', { owner: 'me', ttlMs: 30_000 })
    const leases = join(dir, '.vault-leases')
    const record = readdirSync(leases).find(name => name.endsWith('.lease')) ?? assert.fail('the lease record exists')
    const lock = join(leases, record.replace(/\.lease$/, '.lock'))
    writeFileSync(lock, String(process.pid)) // what a release whose unlink failed leaves
    const renewed = await store.renewLease(grant, { ttlMs: 30_000 })
    assert.equal(renewed.epoch, grant.epoch, 'renewed: the left lock did not block the step')
  } finally {
    await store.close()
  }
})
