/**
 * The simulator lifecycle on the server-backed stores (PostgreSQL, Redis; test servers from
 * scripts/with-test-servers.sh, which `npm test` uses; without them this file fails, it never
 * skips), and a migration SQLite → PostgreSQL → Redis between runs of the real client.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { openStore } from '../../src/open-store.js'
import { migrate } from '../../src/tools/migrate.js'
import { freshPostgres, freshRedis } from '../helpers/servers.js'
import { textOf } from '../helpers/sim-client.js'
import { login, pair, simLifecycleSuite } from '../helpers/sim-lifecycle.js'
import { useSimulator } from '../helpers/use-simulator.js'

simLifecycleSuite('PostgreSQL', () => freshPostgres('sim_life'))
simLifecycleSuite('Redis', () => freshRedis('sim-life'))

const sim = useSimulator()
let dir: string
const cleanups: Array<() => Promise<void>> = []

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'vault-sim-servers-'))
})

after(async () => {
  for (const cleanup of cleanups) await cleanup()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

test('5. SQLite → PostgreSQL → Redis between runs: no QR on each target, messages decrypt', { timeout: 90_000 }, async () => {
  const erin = sim.contact('15550007777', { name: 'Erin' })
  const pg = await freshPostgres('sim_migrate')
  const redis = await freshRedis('sim-migrate')
  cleanups.push(pg.cleanup, redis.cleanup)

  let source = await openStore(`sqlite:${join(dir, 'first.db')}`)
  try {
    const first = await source.useAuthState('bot')
    const device = await pair(sim, first)
    const client = await login(sim, first)
    await erin.sendText('before migration', { to: device.jid })
    assert.equal(textOf(await client.nextMessage()), 'before migration')
    await client.sock.sendMessage(erin.jid, { text: 'reply before migration' })
    assert.equal((await erin.nextMessage()).text, 'reply before migration')
    await client.end()

    for (const [i, url] of [pg.url, redis.url].entries()) {
      const target = await openStore(url)
      const result = await migrate(source, target)
      assert.equal(result.ok, true, `migration ${i} verified`)
      await source.close()
      source = target

      const auth = await target.useAuthState('bot')
      assert.equal(auth.state.creds.me?.id, device.jid)
      const next = await login(sim, auth)
      await erin.sendText(`after migration ${i}`, { to: device.jid })
      assert.equal(textOf(await next.nextMessage()), `after migration ${i}`)
      await next.sock.sendMessage(erin.jid, { text: `reply after migration ${i}` })
      assert.equal((await erin.nextMessage()).text, `reply after migration ${i}`)
      await next.end()
      assert.deepEqual(next.saveErrors, [])
    }
    assert.equal(erin.retryReceipts, 0)
    assert.deepEqual(erin.decryptErrors, [])
  } finally {
    await source.close()
  }
})
