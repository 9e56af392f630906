/**
 * Store outages under a real `baileys-vault run` (child process, the real makeWASocket against
 * `baileys-vault sim`): PostgreSQL stopped under `run --session`, Redis stopped under `run --all`
 * and under a fleet (`--all --capacity`), a `file:` folder that cannot be written. During the outage the session reports
 * BACKEND_UNAVAILABLE (an `error` event, a warn line naming the store without its password) and
 * /readyz is 503; it never goes `failed` and `run` never exits; once the store is back it
 * reconnects without a QR and the bot answers again. Short lease TTL and retry cap (flags), no
 * timing assertions: every wait is for an event or a state, bounded.
 */
import assert from 'node:assert/strict'
import { chmodSync, chownSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { converse, ECHO_BOT, entered, spawnCli, startSimChild, type CliChild, type SimChild } from '../helpers/run-child.js'
import { freshPostgres, freshRedis, startPostgres, startRedis, stopPostgres, stopRedis } from '../helpers/servers.js'
import { NOBODY } from '../helpers/unprivileged.js'
import { useTempDirs } from '../helpers/temp-dirs.js'

const CONTACT = '15550007373'
/** How long each server stays down (the operator restart is about this long). */
const OUTAGE_MS = 10_000
const FAST = ['--lease-ttl', '2s', '--store-retry-max', '1s', '--log-level', 'warn']
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

const tempDir = useTempDirs('vault-outage-')

async function readyz(health: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${health}/readyz`)
  return { status: res.status, body: await res.json() }
}

/** Polls /readyz until `want` (bounded): the state that makes it change arrives asynchronously. */
async function untilReadyz(health: string, want: number, what: string): Promise<{ status: number; body: any }> {
  const deadline = Date.now() + 30_000
  for (;;) {
    const got = await readyz(health)
    if (got.status === want) return got
    if (Date.now() > deadline) assert.fail(`/readyz stayed ${got.status} (${JSON.stringify(got.body)}) waiting for ${want}: ${what}`)
    await sleep(100)
  }
}

/** linkByQr with waits for a loaded machine (the simulator and several `run`s share 2 cores). */
async function linkByQr(run: CliChild, sim: SimChild): Promise<void> {
  const { qr } = await run.waitFor(e => e.event === 'qr', { what: 'the QR event', timeoutMs: 60_000 })
  const scanned = await sim.call('POST', '/scan', qr)
  assert.equal(scanned.status, 200, `the phone scans the QR: ${JSON.stringify(scanned.body)}`)
  await run.waitFor(entered('connected'), { what: 'connected after the scan', timeoutMs: 60_000 })
}

const states = (run: CliChild) => run.events.filter(e => e.event === 'state').map(e => e.state as string)
const isOutageError = (e: { event?: string; code?: string }) => e.event === 'error' && e.code === 'BACKEND_UNAVAILABLE'

describe('a store outage under `run`: reported, retried, never failed', () => {
  let sim: SimChild
  const children: CliChild[] = []
  let bot: string
  const spawnRun = (argv: string[], options: { cwd?: string; asNobody?: boolean } = {}) => {
    const child = spawnCli(['run', ...argv, ...sim.flags, '--bot', bot, '--http', '127.0.0.1:0', ...FAST, '--json'], options)
    children.push(child)
    return child
  }
  before(async () => {
    sim = await startSimChild()
    const botDir = tempDir()
    chmodSync(botDir, 0o755) // readable by the unprivileged user of the file: case
    bot = join(botDir, 'bot.mjs')
    writeFileSync(bot, ECHO_BOT)
  })
  after(async () => {
    for (const child of children) child.kill()
    await sim?.stop()
  })

  /**
   * The shared scenario: a linked, connected `run`; `breakStore` then `fixStore` with a hold in
   * between; checks the report during the outage and the conversation after it.
   */
  /** Replies a previous scenario left in the contact's inbox (a late, repeated echo) are not this one's. */
  async function drainContact() {
    while ((await sim.call('GET', `/contacts/${CONTACT}/next?timeoutMs=500`)).status === 200);
  }

  async function outage(run: CliChild, options: { what: string; breakStore(): Promise<void>; fixStore(): Promise<void>; holdMs: number; secret?: string }) {
    const { url: health } = await run.waitFor(e => e.event === 'http', { what: 'the http event', timeoutMs: 60_000 })
    assert.equal((await readyz(health)).status, 200, 'ready before the outage')
    const mark = run.events.length
    const brokeAt = Date.now()
    await options.breakStore()
    let fixed = false
    try {
      const reported = await run.waitFor(isOutageError, { from: mark, what: `a BACKEND_UNAVAILABLE error event (${options.what})`, timeoutMs: 30_000 })
      assert.match(reported.message, /store/, 'the event names the store')
      const down = await untilReadyz(health, 503, `during the outage (${options.what})`)
      assert.equal(
        down.body.sessions.every((s: any) => s.ready === false),
        true
      )
      await run.waitFor(entered('disconnected'), { from: mark, what: 'the socket ended (disconnected) during the outage', timeoutMs: 30_000 })
      await sleep(Math.max(0, options.holdMs - (Date.now() - brokeAt)))
      assert.equal((await readyz(health)).status, 503, 'still not ready while the store is down')
      assert.equal(run.child.exitCode, null, 'run is still running during the outage')
    } finally {
      await options.fixStore()
      fixed = true
    }
    assert.ok(fixed)
    const sessions = [...new Set(run.events.filter(e => e.event === 'state').map(e => e.session as string))]
    for (const session of sessions) {
      await run.waitFor(e => entered('connected')(e) && e.session === session, {
        from: mark,
        what: `${session} connected again after the outage`,
        timeoutMs: 60_000
      })
    }
    await untilReadyz(health, 200, `after the outage (${options.what})`)
    // The next reply is this message's echo: no earlier echo comes again (an earlier one under a
    // fleet was the bot attached twice, answering every message twice, not a redelivery).
    assert.equal(await converse(sim, CONTACT, `after ${options.what}`), `echo: after ${options.what}`)
    // A change printed twice shows as the same transition twice in a row (no change repeats itself).
    const changes = run.events.filter(e => e.event === 'state').map(e => `${e.session} ${e.previous}>${e.state}`)
    assert.ok(
      changes.every((c, i) => c !== changes[i - 1]),
      `each state change printed once: ${changes.join(', ')}`
    )
    assert.ok(!states(run).includes('failed'), `never failed: ${states(run).join(' ')}`)
    assert.equal(run.events.slice(mark).filter(e => e.event === 'qr').length, 0, 'no QR after the outage')
    const warn = run
      .stderr()
      .split('\n')
      .find(line => line.includes('"level":40') && line.includes('BACKEND_UNAVAILABLE'))
    assert.ok(warn, `a warn log line with the code: ${run.stderr()}`)
    assert.match(warn, /"store":"/, 'the warn line names the store')
    if (options.secret) {
      assert.ok(!run.stderr().includes(options.secret), 'the password never reaches the logs')
      assert.ok(!run.stdout().includes(options.secret), 'the password never reaches the events')
    }
    run.kill('SIGTERM')
    const { code } = await run.exited(20_000)
    assert.equal(code, 0, `a graceful stop after the outage exits 0; stderr: ${run.stderr()}`)
  }

  it('PostgreSQL stopped for ~10 s under run --session: error event, 503, reconnects without a QR and answers', { timeout: 150_000 }, async () => {
    const pg = await freshPostgres('outage')
    // A password in the URL (trust auth ignores it): it must never be printed.
    const url = new URL(pg.url)
    url.password = 'outage-secret-pw'
    try {
      const run = spawnRun([url.toString(), '--session', 's1'])
      await linkByQr(run, sim)
      await drainContact()
      assert.equal(await converse(sim, CONTACT, 'before'), 'echo: before')
      await outage(run, { what: 'postgres', breakStore: () => stopPostgres(), fixStore: () => startPostgres(), holdMs: OUTAGE_MS, secret: 'outage-secret-pw' })
    } finally {
      await pg.cleanup()
    }
  })

  it('Redis stopped for ~10 s under run --all: every session reconnects without a QR and answers', { timeout: 150_000 }, async () => {
    const redis = await freshRedis('outage')
    try {
      const link = spawnRun([redis.url, '--session', 'r1'])
      await linkByQr(link, sim)
      link.kill('SIGTERM')
      assert.equal((await link.exited(20_000)).code, 0)
      const run = spawnRun([redis.url, '--all'])
      await run.waitFor(entered('connected'), { what: 'r1 connected under --all', timeoutMs: 60_000 })
      await drainContact()
      assert.equal(await converse(sim, CONTACT, 'before'), 'echo: before')
      await outage(run, { what: 'redis', breakStore: () => stopRedis(), fixStore: () => startRedis(), holdMs: OUTAGE_MS })
    } finally {
      await redis.cleanup()
    }
  })

  it('Redis stopped under a fleet (run --all --capacity): the fleet keeps its session, never failed', { timeout: 150_000 }, async () => {
    const redis = await freshRedis('outage_fleet')
    try {
      const link = spawnRun([redis.url, '--session', 'q1'])
      await linkByQr(link, sim)
      link.kill('SIGTERM')
      assert.equal((await link.exited(20_000)).code, 0)
      const run = spawnRun([redis.url, '--all', '--capacity', '2'])
      await run.waitFor(entered('connected'), { what: 'q1 claimed and connected by the fleet', timeoutMs: 60_000 })
      await drainContact()
      assert.equal(await converse(sim, CONTACT, 'before'), 'echo: before')
      await outage(run, { what: 'redis under a fleet', breakStore: () => stopRedis(), fixStore: () => startRedis(), holdMs: 5_000 })
    } finally {
      await redis.cleanup()
    }
  })

  it('a file: folder that cannot be written: error event and 503, then back once it is writable', { timeout: 120_000 }, async () => {
    // As root, modes do not stop writes: `run` then runs as `nobody` (helpers/unprivileged.ts), for whom they do.
    const asRoot = process.getuid?.() === 0
    const dir = tempDir()
    const folder = join(dir, 'auth')
    if (asRoot) chownSync(dir, NOBODY.uid, NOBODY.gid)
    const run = spawnRun([`file:${folder}`, '--session', 'f1'], { cwd: dir, asNobody: asRoot })
    await linkByQr(run, sim)
    await drainContact()
    assert.equal(await converse(sim, CONTACT, 'before'), 'echo: before')
    // Every folder of the store read-only (files keep their modes: the folders decide what can be created or replaced).
    const folders = (root: string): string[] => [
      root,
      ...readdirSync(root)
        .map(name => join(root, name))
        .filter(p => statSync(p).isDirectory())
        .flatMap(folders)
    ]
    let all: string[] = []
    await outage(run, {
      what: 'a read-only folder',
      breakStore: async () => {
        all = folders(folder)
        for (const p of all) chmodSync(p, 0o555)
      },
      fixStore: async () => all.forEach(p => chmodSync(p, 0o755)),
      holdMs: 3_000
    })
  })
})
