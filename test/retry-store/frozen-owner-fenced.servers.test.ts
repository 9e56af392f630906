/**
 * Issue 21, test 4, with real processes: an owner frozen with SIGSTOP until its lease expired,
 * whose lease another process then took, wakes up (SIGCONT) and can neither record nor serve a
 * message nor count a resend (LEASE_LOST); the new owner's retry store is unaffected: a raw
 * listing holds only what the owners recorded while they held the lease, and the new owner
 * serves the message the frozen one recorded before. Control: the same woken process writing
 * through a retry store opened without the lease lands its record, and the listing sees it.
 */
import assert from 'node:assert/strict'
import { fork, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { isVaultError } from '../../src/core/errors.js'
import { leaseOwner } from '../../src/drivers/shared-lease.js'
import { openStore } from '../../src/open-store.js'
import { MESSAGE_TYPE } from '../../src/store/internal-types.js'
import type { LeaseGrant } from '../../src/core/driver.js'
import type { AuthStore } from '../../src/auth/auth-store.js'
import { freshPostgres, freshRedis } from '../helpers/servers.js'
import { useTempDirs } from '../helpers/temp-dirs.js'

const CHILD = fileURLToPath(new URL('../helpers/retry-zombie-child.js', import.meta.url))
const TTL_MS = 1000
const JID = '15550009090@s.whatsapp.net'

const tempDir = useTempDirs('vault-retry-zombie-')

/** The next IPC message of `type` from the child. */
function nextMessage(child: ChildProcess, type: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const onMessage = (msg: Record<string, unknown>) => {
      if (msg.type !== type) return
      child.off('message', onMessage)
      child.off('exit', onExit)
      resolve(msg)
    }
    const onExit = (code: number | null) => reject(new Error(`the child exited (${code}) before sending "${type}"`))
    child.on('message', onMessage)
    child.on('exit', onExit)
  })
}

/** Takes the lease once the frozen owner's has expired (LEASE_HELD until then), polling every ttl/5, bounded. */
async function takeOver(store: AuthStore): Promise<LeaseGrant> {
  const deadline = Date.now() + 30 * TTL_MS
  for (;;) {
    try {
      return await store.acquireLease('bot', { owner: leaseOwner(), ttlMs: 30_000 })
    } catch (err) {
      if (!isVaultError(err, 'LEASE_HELD') || Date.now() > deadline) throw err
      await new Promise(resolve => setTimeout(resolve, TTL_MS / 5))
    }
  }
}

async function storedIds(url: string): Promise<string[]> {
  const raw = await openStore(url)
  try {
    const ids: string[] = []
    for await (const [, id] of raw.listKeys('bot', MESSAGE_TYPE)) ids.push(id.slice(id.indexOf('.') + 1))
    return ids.sort()
  } finally {
    await raw.close()
  }
}

const targets: Array<{ name: string; url: () => Promise<{ url: string; cleanup?: () => Promise<void> }> }> = [
  { name: 'sqlite', url: async () => ({ url: `sqlite:${join(tempDir(), 'store.db')}` }) },
  { name: 'file', url: async () => ({ url: `file:${tempDir()}` }) },
  { name: 'postgres', url: () => freshPostgres('zombie') },
  { name: 'redis', url: () => freshRedis('zombie') }
]

describe('retry store: a frozen owner whose lease was taken (SIGSTOP, real processes)', { concurrency: true }, () => {
  for (const target of targets) {
    it(`${target.name}: the woken zombie cannot record, serve or count; the new owner's store is unaffected`, { timeout: 60_000 }, async () => {
      const { url, cleanup } = await target.url()
      const child = fork(CHILD, [url, String(TTL_MS)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
      const owner = await openStore(url)
      try {
        await nextMessage(child, 'ready')
        child.kill('SIGSTOP')
        const lease = await takeOver(owner)
        const current = await owner.useMessageStore('bot', { lease })
        await current.recordMessage({ jid: JID, id: 'OWNER', message: { conversation: 'sent by the new owner' } })

        child.kill('SIGCONT')
        const tried = nextMessage(child, 'tried')
        child.send({ type: 'try' })
        const outcome = await tried
        assert.deepEqual(
          { record: outcome.record, serve: outcome.serve, count: outcome.count },
          { record: 'LEASE_LOST', serve: 'LEASE_LOST', count: 'LEASE_LOST' },
          'the zombie can neither record, serve nor count'
        )
        assert.deepEqual(await storedIds(url), ['BEFORE', 'OWNER'], 'a raw listing holds nothing of the zombie')
        const served = await current.getMessage({ remoteJid: JID, id: 'BEFORE', fromMe: true })
        assert.equal(served?.conversation, 'sent before the freeze', 'the new owner serves what the old one recorded while it held the lease')
        assert.equal(await current.getMessage({ remoteJid: JID, id: 'ZOMBIE', fromMe: true }), undefined)
        assert.deepEqual(current.stats().missed, { expired: 0, neverRecorded: 1 })

        // Control: without the lease nothing fences the same process, and the listing sees its record.
        const unfenced = nextMessage(child, 'unfenced')
        child.send({ type: 'unfenced' })
        assert.equal((await unfenced).record, 'ok')
        assert.deepEqual(await storedIds(url), ['BEFORE', 'OWNER', 'UNFENCED'], 'the listing notices a record that landed')
      } finally {
        child.kill('SIGCONT')
        child.kill('SIGKILL')
        await owner.close()
        await cleanup?.()
      }
    })
  }
})
