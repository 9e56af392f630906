/**
 * Handoff and takeover at the DEFAULT lease TTL (30 s, so a standby polls only every 10 s), with
 * the built `run` in child processes against `baileys-vault sim` in another:
 *
 * - SIGTERM the owner while a standby waits: the standby is woken by the release itself (a
 *   pushed NOTIFY / pub/sub message on PostgreSQL and Redis, the 250 ms local read on SQLite and
 *   file:), never by its 10 s poll (`lastWake` on /sessions says which), connects without a QR,
 *   the simulator kicks nobody (no 440, no `replaced`), and the conversation continues.
 * - kill -9 the owner: a process of the same host takes over at once because the owner's pid is
 *   gone (a restart says "pid N on this host is gone; taking over"; a waiting standby is woken
 *   by its local pid check, `owner-gone`), not after the TTL.
 * - PostgreSQL: an owner frozen (SIGSTOP) whose database connections were dropped is taken over
 *   at once (its listening backend is gone from pg_stat_activity); when it wakes it is fenced
 *   and stands by.
 *
 * The times are measured and reported (t.diagnostic), never asserted: the mechanism is.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it, type TestContext } from 'node:test'
import { freshPostgres, freshRedis } from '../helpers/servers.js'
import { converse, ECHO_BOT, entered, linkByQr, spawnCli, startSimChild, type CliChild, type SimChild } from '../helpers/run-child.js'

let sim: SimChild
const dirs: string[] = []
const children: CliChild[] = []
const CONTACT = '15550007777'

before(async () => {
  sim = await startSimChild()
})

after(async () => {
  children.forEach(c => c.kill())
  await sim?.stop()
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'vault-handoff-'))
  dirs.push(dir)
  return dir
}

function run(url: string, bot: string, extra: string[] = []): CliChild {
  const child = spawnCli(['run', url, '--session', 'main', ...sim.flags, '--bot', bot, '--json', ...extra])
  children.push(child)
  return child
}

async function sessionStats(child: CliChild): Promise<any> {
  const { url } = await child.waitFor(e => e.event === 'http', { what: 'the http event' })
  const body = (await (await fetch(`${url}/sessions`)).json()) as any
  return body.sessions[0].stats
}

const kicksOf = async (jid: string): Promise<Record<string, number>> => {
  const devices = (await sim.call('GET', '/devices')).body as Array<{ jid: string; kicks: Record<string, number> }>
  return devices.find(d => d.jid === jid)!.kicks
}

/** No QR shown and no close with 440 (replaced) in a child's events (from index `from` on). */
function assertNoQrNo440(child: CliChild, who: string, from = 0) {
  const events = child.events.slice(from)
  assert.equal(events.filter(e => e.event === 'qr').length, 0, `${who} showed no QR`)
  const replaced = events.filter(e => e.event === 'state' && e.reason?.code === 440)
  assert.deepEqual(replaced, [], `${who} was never closed with 440`)
}

interface Target {
  name: string
  make(): Promise<{ url: string; cleanup?: () => Promise<void> }>
  /** How the kill -9 is followed: a fresh restart, or a standby already waiting. */
  afterKill: 'restart' | 'standby'
}

const TARGETS: Target[] = [
  { name: 'sqlite', make: async () => ({ url: `sqlite:${join(tempDir(), 'wa.db')}` }), afterKill: 'restart' },
  { name: 'file', make: async () => ({ url: `file:${join(tempDir(), 'auth')}` }), afterKill: 'standby' },
  { name: 'postgres', make: () => freshPostgres('handoff'), afterKill: 'standby' },
  { name: 'redis', make: () => freshRedis('handoff'), afterKill: 'restart' }
]

async function handoffAndTakeover(t: TestContext, target: Target, url: string) {
  const bot = join(tempDir(), 'bot.mjs')
  writeFileSync(bot, ECHO_BOT)
  const a = run(url, bot)
  const jid = await linkByQr(a, sim)
  assert.equal(await converse(sim, CONTACT, `${target.name} before`), `echo: ${target.name} before`)
  const kicksBefore = await kicksOf(jid)
  const linked = a.events.length

  // 1. Graceful handoff: SIGTERM while a standby waits.
  const b = run(url, bot, ['--http', '127.0.0.1:0'])
  await b.waitFor(entered('standby'), { what: 'B waiting as a standby' })
  const signalled = performance.now()
  a.kill('SIGTERM')
  await b.waitFor(entered('connected'), { what: 'B connected after the handoff', timeoutMs: 30_000 })
  const handoffMs = performance.now() - signalled
  assert.equal((await a.exited()).code, 0, 'A stops gracefully')
  const stats = await sessionStats(b)
  assert.equal(
    stats.lease.lastWake,
    'released',
    `the standby was woken by the release, not by its ttl/3 poll (10 s at the default TTL); A: ${a.stderr()} B: ${JSON.stringify(b.events)}`
  )
  assert.equal(stats.lease.takeovers, 1)
  assertNoQrNo440(a, 'A', linked)
  assertNoQrNo440(b, 'B')
  assert.deepEqual(await kicksOf(jid), kicksBefore, 'the simulator kicked nobody (no replaced)')
  assert.equal(await converse(sim, CONTACT, `${target.name} after handoff`), `echo: ${target.name} after handoff`)
  t.diagnostic(`${target.name}: handoff at the default TTL ${handoffMs.toFixed(0)} ms from SIGTERM to the standby connected`)

  // 2. kill -9 of the owner, same host: its pid is gone, so the lease is taken at once.
  let c: CliChild
  let killedAt: number
  if (target.afterKill === 'standby') {
    c = run(url, bot, ['--http', '127.0.0.1:0'])
    await c.waitFor(entered('standby'), { what: 'C waiting as a standby' })
    killedAt = performance.now()
    b.kill('SIGKILL')
    await c.waitFor(entered('connected'), { what: 'C connected after kill -9 of B', timeoutMs: 30_000 })
    assert.equal((await sessionStats(c)).lease.lastWake, 'owner-gone', 'woken by the local check of the dead pid, not by the poll')
  } else {
    b.kill('SIGKILL')
    await b.exited()
    killedAt = performance.now()
    c = run(url, bot)
    await c.waitFor(entered('connected'), { what: 'C connected after kill -9 of B', timeoutMs: 30_000 })
    assert.equal(c.events.filter(entered('standby')).length, 0, 'C never waited: the dead owner was taken over on the first attempt')
  }
  const takeoverMs = performance.now() - killedAt
  const connecting = c.events.find(entered('connecting'))!
  // PostgreSQL may notice first that the dead process's database connection is gone: either says the owner is dead.
  assert.match(
    connecting.reason.message,
    new RegExp(`pid ${b.child.pid} on this host is gone; taking over|database connection of the owner \\(backend pid \\d+\\) is gone`)
  )
  // A restart never saw the dead owner as alive: no advice to stop a process that does not exist.
  if (target.afterKill === 'restart') assert.doesNotMatch(c.stderr() + c.stdout(), /Stop that process/)
  assertNoQrNo440(c, 'C')
  assert.equal(await converse(sim, CONTACT, `${target.name} after kill`), `echo: ${target.name} after kill`)
  t.diagnostic(`${target.name}: takeover after kill -9 (${target.afterKill}) ${takeoverMs.toFixed(0)} ms`)
  return { c, bot, jid }
}

describe('handoff and takeover at the default TTL', () => {
  for (const target of TARGETS) {
    it(
      `${target.name}: SIGTERM hands over to the waiting standby at once (woken by the release), kill -9 is taken over at once (pid gone)`,
      { timeout: 120_000 },
      async t => {
        const made = await target.make()
        try {
          const { c, bot } = await handoffAndTakeover(t, target, made.url)
          if (target.name === 'postgres') await connectionDropped(t, made.url, c, bot)
          else {
            c.kill('SIGTERM')
            assert.equal((await c.exited()).code, 0)
          }
        } finally {
          children.forEach(child => child.kill())
          await made.cleanup?.()
        }
      }
    )
  }
})

/** PostgreSQL: the owner is frozen and its database connections are dropped; a new process takes over at once, the owner is fenced when it wakes. */
async function connectionDropped(t: TestContext, url: string, owner: CliChild, bot: string) {
  const { default: pg } = await import('pg')
  const admin = new pg.Client({ connectionString: url })
  await admin.connect()
  try {
    const [lease] = (
      await admin.query(`SELECT owner, backend_pid, (extract(epoch FROM expires_at - now()) * 1000)::float8 AS ms FROM vault_lease WHERE session = 'main'`)
    ).rows
    assert.match(lease.owner, new RegExp(`:${owner.child.pid}:`))
    assert.ok(lease.backend_pid > 0, 'the owner stamped its listening backend on the lease')
    const listening = (await admin.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'`)).rows[0]
      .n
    assert.equal(listening, 1, 'one listening connection for the one process')

    owner.kill('SIGSTOP')
    const dropped = await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`)
    assert.ok(dropped.rowCount! >= 1)
    const started = performance.now()
    const d = run(url, bot)
    await d.waitFor(entered('connected'), { what: 'D connected after the owner lost its connection', timeoutMs: 30_000 })
    const takeoverMs = performance.now() - started
    const connecting = d.events.find(entered('connecting'))!
    assert.match(connecting.reason.message, /database connection of the owner \(backend pid \d+\) is gone; taking over/)
    const [now] = (await admin.query(`SELECT owner FROM vault_lease WHERE session = 'main'`)).rows
    assert.match(now.owner, new RegExp(`:${d.child.pid}:`))
    t.diagnostic(`postgres: takeover from an owner whose connection dropped ${takeoverMs.toFixed(0)} ms (its lease had ${Math.round(lease.ms)} ms left)`)

    // The zombie wakes: fenced (LEASE_LOST), it stands by; the new owner keeps the conversation.
    owner.kill('SIGCONT')
    const standby = await owner.waitFor(entered('standby'), { what: 'the woken owner stands by', timeoutMs: 30_000 })
    assert.match(standby.reason.message, /lease|LEASE/)
    assert.equal(await converse(sim, CONTACT, 'postgres after the zombie'), 'echo: postgres after the zombie')
    owner.kill('SIGTERM')
    await owner.exited()
    d.kill('SIGTERM')
    assert.equal((await d.exited()).code, 0)
  } finally {
    await admin.end()
  }
}
