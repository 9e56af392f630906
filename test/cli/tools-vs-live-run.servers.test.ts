/**
 * Tools against a session a live `run` owns (issue 20, items 1 and 6), with the built bin in
 * child processes against `baileys-vault sim`:
 *  - `drop --yes` is refused with LEASE_HELD naming run's pid (PostgreSQL, file:; on SQLite
 *    against a lease this test process holds), the store keeps every key and the bot keeps
 *    answering; after run's graceful stop (the release), drop removes it.
 *  - `migrate` and `backup` of a source session a live bot owns: refused on a store without
 *    consistent snapshots (file:) with no file written; on PostgreSQL `backup` is a consistent
 *    snapshot and succeeds while `migrate` is still refused. Once run stops, both work.
 */
import assert from 'node:assert/strict'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { openStore } from '../../src/open-store.js'
import { leaseOwner } from '../../src/drivers/shared-lease.js'
import { copyFixture, importBaileysFolder } from '../helpers/fixture.js'
import { freshPostgres } from '../helpers/servers.js'
import { converse, ECHO_BOT, linkByQr, spawnCli, startSimChild, type CliChild, type SimChild } from '../helpers/run-child.js'
import { useTempDirs } from '../helpers/temp-dirs.js'

const CONTACT = '15550004343'
const tempDir = useTempDirs('vault-live-tools-')

/** Creds present and keys (type/id) per session, read without writing. */
async function contents(url: string): Promise<Record<string, { creds: boolean; keys: number; ids: Set<string> }>> {
  const store = await openStore(url, { readOnly: true })
  try {
    const out: Record<string, { creds: boolean; keys: number; ids: Set<string> }> = {}
    for await (const session of store.sessions()) {
      const ids = new Set<string>()
      for await (const [type, id] of store.listKeys(session)) ids.add(`${type}/${id}`)
      out[session] = { creds: await store.hasCreds(session), keys: ids.size, ids }
    }
    return out
  } finally {
    await store.close()
  }
}

/**
 * The refused tool removed nothing: creds still there and every key listed before still listed.
 * (The live bot may add keys meanwhile, e.g. a pre-key upload; nothing in the test consumes any.)
 */
async function assertKept(url: string, before: Awaited<ReturnType<typeof contents>>) {
  const now = await contents(url)
  for (const [session, { creds, ids }] of Object.entries(before)) {
    assert.equal(now[session]?.creds, creds, `${session}: creds kept`)
    const missing = [...ids].filter(id => !now[session]?.ids.has(id))
    assert.deepEqual(missing, [], `${session}: every key kept`)
  }
}

/** Runs one CLI command to its end; `json` is its stdout parsed. */
async function tool(argv: string[]) {
  const child = spawnCli([...argv, '--json'])
  const { code } = await child.exited(30_000)
  return { code, json: JSON.parse(child.stdout() || '{}'), stderr: child.stderr() }
}

describe('tools against a session a live run owns', () => {
  let sim: SimChild
  const children: CliChild[] = []
  before(async () => {
    sim = await startSimChild()
  })
  after(async () => {
    for (const child of children) child.kill()
    await sim?.stop()
  })

  /** `run` on `url`, linked by QR, answering with the echo bot. */
  async function liveRun(url: string): Promise<CliChild> {
    const bot = join(tempDir(), 'bot.mjs')
    writeFileSync(bot, ECHO_BOT)
    const run = spawnCli(['run', url, '--session', 's1', ...sim.flags, '--bot', bot, '--json'])
    children.push(run)
    await linkByQr(run, sim)
    return run
  }
  async function stop(run: CliChild) {
    run.kill('SIGTERM')
    assert.equal((await run.exited(30_000)).code, 0, `graceful stop; stderr: ${run.stderr()}`)
  }
  const heldBy = (result: { code: number | null; json: any }, run: CliChild, what: string) => {
    assert.equal(result.code, 2, `${what} exits 2: ${JSON.stringify(result.json)}`)
    assert.equal(result.json.error?.code, 'LEASE_HELD', what)
    assert.match(result.json.error.message, new RegExp(`pid ${run.child.pid}\\b`), `${what} names run's pid`)
  }

  it(
    'PostgreSQL: drop is refused while run owns the session, backup is a snapshot, migrate is refused; after the stop both work',
    { timeout: 120_000 },
    async () => {
      const pg = await freshPostgres('live_tools')
      const dir = tempDir()
      const target = `sqlite:${join(dir, 'copy.db')}`
      try {
        const run = await liveRun(pg.url)
        const before = await contents(pg.url)
        assert.equal(before.s1?.creds, true)
        assert.ok(before.s1.keys > 0)
        heldBy(await tool(['drop', pg.url, '--session', 's1', '--yes']), run, 'drop')
        heldBy(await tool(['drop', pg.url, '--session', 's1', '--yes', '--force']), run, 'drop --force (never a live lease)')
        await assertKept(pg.url, before)
        assert.equal(await converse(sim, CONTACT, 'still there?'), 'echo: still there?')
        // PostgreSQL reads inside one snapshot: a backup of a running bot is consistent.
        const backup = await tool(['backup', pg.url, join(dir, 's1.vault')])
        assert.equal(backup.code, 0, backup.stderr)
        assert.equal(backup.json.snapshot, true)
        // A migrated copy would fall behind the bot at once: refused even with snapshots.
        heldBy(await tool(['migrate', pg.url, target]), run, 'migrate from a live PostgreSQL session')
        await stop(run)
        // Controls: with no owner the same commands work.
        assert.equal((await tool(['migrate', pg.url, target])).code, 0)
        const dropped = await tool(['drop', pg.url, '--session', 's1', '--yes'])
        assert.equal(dropped.code, 0, dropped.stderr)
        assert.equal(dropped.json.dropped, true)
        assert.equal(dropped.json.creds, true)
        assert.ok(dropped.json.keys > 0)
        assert.deepEqual(await contents(pg.url), {})
      } finally {
        await pg.cleanup()
      }
    }
  )

  it(
    'file: source (no snapshots): migrate, backup and drop refuse a live session, nothing written; all work after the stop',
    { timeout: 120_000 },
    async () => {
      const dir = tempDir()
      const url = `file:${join(dir, 'auth')}`
      const target = `sqlite:${join(dir, 'copy.db')}`
      const file = join(dir, 's1.vault')
      const run = await liveRun(url)
      const before = await contents(url)
      heldBy(await tool(['migrate', url, target]), run, 'migrate from a live file: session')
      heldBy(await tool(['backup', url, file]), run, 'backup of a live file: session')
      heldBy(await tool(['drop', url, '--session', 's1', '--yes']), run, 'drop')
      assert.equal(existsSync(file), false, 'no backup file')
      assert.deepEqual(await contents(target), {}, 'nothing copied')
      await assertKept(url, before)
      await stop(run)
      assert.equal((await tool(['backup', url, file])).code, 0)
      assert.equal((await tool(['migrate', url, target])).code, 0)
      assert.deepEqual(await contents(target), await contents(url))
    }
  )
})

it('SQLite: drop is refused with LEASE_HELD while another process holds the lease; drops once it is released', { timeout: 60_000 }, async () => {
  const url = `sqlite:${join(tempDir(), 'wa.db')}`
  const seed = await openStore(url)
  await importBaileysFolder(seed, copyFixture('alice'), 's1')
  const lease = await seed.acquireLease('s1', { owner: leaseOwner(), ttlMs: 120_000 })
  try {
    const before = await contents(url)
    const refused = await tool(['drop', url, '--session', 's1', '--yes'])
    assert.equal(refused.code, 2)
    assert.equal(refused.json.error?.code, 'LEASE_HELD')
    assert.match(refused.json.error.message, new RegExp(`pid ${process.pid}\\b`))
    assert.deepEqual(await contents(url), before)
  } finally {
    await seed.releaseLease(lease)
    await seed.close()
  }
  const dropped = await tool(['drop', url, '--session', 's1', '--yes'])
  assert.equal(dropped.code, 0, dropped.stderr)
  assert.deepEqual(await contents(url), {})
})
