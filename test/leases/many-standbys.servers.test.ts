/**
 * Many standbys (issue 23, test 5): 100 linked sessions (VAULT_STANDBY_SESSIONS to change it) on
 * one store and two `run --all` processes at the default lease TTL: A owns every session, B
 * waits as a standby for every one. On PostgreSQL and Redis the lease notification connections
 * stay one per process, as the server counts them: the backends in pg_stat_activity whose query
 * is LISTEN on the store's channel, the subscribers of the prefix's channel (PUBSUB NUMSUB) and
 * the subscribed clients in CLIENT LIST — 2 in all, not one per session.
 * Controls: B really has every session waiting (one listener per standby would show 100 more),
 * and the count is taken from the same queries that find A's own listener before B starts (1).
 * The CPU both processes spend over an idle window is measured and reported, never asserted.
 * The sessions are linked once on SQLite by an in-process runtime (not timed) and copied to
 * PostgreSQL and Redis with `migrate` (cheaper than linking them again).
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test, type TestContext } from 'node:test'
import { openStore } from '../../src/open-store.js'
import { createRuntime } from '../../src/runtime/index.js'
import { startSimulator, trustSimulator, type Simulator } from '../../src/sim/index.js'
import { migrate } from '../../src/tools/index.js'
import { freshPostgres, freshRedis, redisClient } from '../helpers/servers.js'
import { entered, spawnCli, type CliChild } from '../helpers/run-child.js'
import { silentLogger } from '../helpers/sim-client.js'

const COUNT = Number(process.env.VAULT_STANDBY_SESSIONS ?? 100)
const IDS = Array.from({ length: COUNT }, (_, i) => `w${String(i + 1).padStart(3, '0')}`)
/** The idle window over which CPU is measured (reported only). */
const IDLE_MS = 5_000

let sim: Simulator
let untrust: () => void
let dir: string
/** The store the sessions were linked in (copied to each store under test). */
let linked: string
/** How long linking took (setup, reported). */
let linkMs = 0
const cleanups: Array<() => Promise<void>> = []
const children: CliChild[] = []

before(async () => {
  sim = await startSimulator()
  untrust = trustSimulator(sim)
  dir = mkdtempSync(join(tmpdir(), 'vault-standbys-'))
  linked = `sqlite:${join(dir, 'linked.db')}`
  const started = performance.now()
  await provision(linked)
  linkMs = performance.now() - started
})

after(async () => {
  children.forEach(c => c.kill())
  untrust?.()
  await sim?.stop()
  for (const cleanup of cleanups) await cleanup().catch(() => undefined)
  if (dir) rmSync(dir, { recursive: true, force: true })
})

/** A copy of the linked sessions in `url`. */
async function copyLinked(url: string): Promise<void> {
  const [from, to] = [await openStore(linked), await openStore(url)]
  try {
    await migrate(from, to)
  } finally {
    await from.close()
    await to.close()
  }
}

/** A fresh database (or Redis prefix) holding the linked sessions; dropped after the file. */
async function linkedCopyOn(fresh: (label: string) => Promise<{ url: string; cleanup(): Promise<void> }>): Promise<string> {
  const target = await fresh('standbys')
  cleanups.push(target.cleanup)
  await copyLinked(target.url)
  return target.url
}

/** Links every session with an in-process runtime (its own ramp of 16), scanning each QR as the phone; fails with the sessions' states if they are not all linked in time. */
async function provision(url: string, timeoutMs = 900_000): Promise<void> {
  const store = await openStore(url)
  const runtime = createRuntime({ store, maxConnecting: 16, socket: { waWebSocketUrl: sim.url, logger: silentLogger as never, markOnlineOnConnect: false } })
  const states = new Map<string, string>()
  let timer: NodeJS.Timeout | undefined
  try {
    const linked = Promise.all(
      IDS.map(async id => {
        const session = await runtime.start(id)
        session.on('qr', qr => void sim.phone.scan(qr).catch(() => undefined))
        await new Promise<void>(resolve =>
          session.on('state', ({ state, reason }) => {
            states.set(id, `${state} (${reason.message})`)
            if (state === 'connected') resolve()
          })
        )
      })
    )
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const waiting = IDS.filter(id => !states.get(id)?.startsWith('connected')).map(id => `${id}: ${states.get(id) ?? 'no state yet'}`)
        reject(new Error(`linking: ${waiting.length} of ${COUNT} not connected after ${timeoutMs} ms:\n${waiting.slice(0, 20).join('\n')}`))
      }, timeoutMs)
    })
    await Promise.race([linked, late])
  } finally {
    clearTimeout(timer)
    await runtime.stop()
    await store.close()
  }
}

function runAll(url: string): CliChild {
  const child = spawnCli(['run', url, '--all', '--json', '--server', sim.url, '--trust-root-key', sim.rootPublicKey.toString('hex')])
  children.push(child)
  return child
}

/** User plus system CPU time of a process so far (ms), from /proc (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return (Number(fields[11]) + Number(fields[12])) * 10
}

interface Store {
  name: string
  make(): Promise<string>
  /** The lease notification connections the server sees for this store. */
  listeners(url: string): Promise<number>
}

const STORES: Store[] = [
  {
    name: 'postgres',
    make: () => linkedCopyOn(freshPostgres),
    async listeners(url) {
      const { default: pg } = await import('pg')
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      try {
        const { rows } = await client.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN "baileys\\_vault\\_lease\\_%'`
        )
        return rows[0].n
      } finally {
        await client.end()
      }
    }
  },
  {
    name: 'redis',
    make: () => linkedCopyOn(freshRedis),
    async listeners(url) {
      const channel = `${new URL(url).searchParams.get('prefix')}:lease-events`
      const client = await redisClient()
      try {
        const [, subscribers] = (await client.pubsub('NUMSUB', channel)) as [string, number]
        // Every client subscribed to anything on this throwaway server is one of ours (reported beside NUMSUB).
        const subscribed = String(await client.client('LIST'))
          .split('\n')
          .filter(line => /\bsub=[1-9]/.test(line)).length
        assert.equal(subscribed, subscribers, `CLIENT LIST shows as many subscribed clients (${subscribed}) as the channel has subscribers (${subscribers})`)
        return Number(subscribers)
      } finally {
        client.disconnect()
      }
    }
  }
]

for (const store of STORES) {
  test(`${store.name}: ${COUNT} sessions, each with a standby in another process: one notification connection per process`, { timeout: 600_000 }, async t => {
    await manyStandbys(t, store)
  })
}

async function manyStandbys(t: TestContext, store: Store) {
  const url = await store.make()
  let started = performance.now()
  const a = runAll(url)
  await a.waitFor(entered('connected'), { what: `all ${COUNT} connected on A`, nth: COUNT, timeoutMs: 300_000 })
  const connectMs = performance.now() - started
  assert.equal(await store.listeners(url), 1, 'A alone: one notification connection (the query finds it)')

  started = performance.now()
  const b = runAll(url)
  await b.waitFor(entered('standby'), { what: `all ${COUNT} standing by on B`, nth: COUNT, timeoutMs: 240_000 })
  const standbyMs = performance.now() - started
  assert.equal(new Set(b.events.filter(entered('standby')).map(e => e.session)).size, COUNT, 'B waits as a standby for every session')
  assert.equal(b.events.filter(entered('connected')).length, 0, 'B connected none (A owns them all)')
  assert.equal(await store.listeners(url), 2, `one notification connection per process, not per standby (${COUNT} standbys)`)

  const pids = [a.child.pid!, b.child.pid!]
  const before = pids.map(cpuMs)
  const idleStart = performance.now()
  await new Promise(resolve => setTimeout(resolve, IDLE_MS))
  const seconds = (performance.now() - idleStart) / 1000
  const [ownerCpu = NaN, standbyCpu = NaN] = pids.map((pid, i) => (cpuMs(pid) - (before[i] ?? NaN)) / seconds)
  assert.equal(await store.listeners(url), 2, 'still one per process after the idle window')
  t.diagnostic(
    `${store.name}: (setup: ${COUNT} linked in ${(linkMs / 1000).toFixed(0)} s) ${COUNT} connected on A in ${(connectMs / 1000).toFixed(1)} s, ${COUNT} standbys on B in ${(standbyMs / 1000).toFixed(1)} s; ` +
      `idle CPU over ${seconds.toFixed(1)} s: owner ${ownerCpu.toFixed(0)} ms/s, standby process ${standbyCpu.toFixed(0)} ms/s`
  )

  for (const child of [b, a]) {
    child.kill('SIGTERM')
    assert.equal((await child.exited(60_000)).code, 0, 'stops gracefully')
  }
}
