/**
 * Fleet mode with real processes: three `baileys-vault run --all --capacity N` instances share
 * one PostgreSQL store of 30 linked sessions (VAULT_FLEET_SESSIONS to change it) and the
 * simulator. Every session ends up connected on exactly one instance; kill -9 the busiest one and
 * the survivors pick up its sessions (each again on exactly one instance) within TTL + backoff.
 * The simulator's own count backs this: each device has at most one live connection at any
 * moment, exactly one while the fleet is steady (before the kill, and again after the
 * takeover), and the server never kicks one ('replaced' would mean two logins overlapped).
 * On PostgreSQL and on Redis.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { dirname, join } from 'node:path'
import { after, before, test, type TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import { openStore } from '../src/open-store.js'
import { startSimulator, trustSimulator, type Simulator } from '../src/sim/index.js'
import { startSession } from '../src/runtime/index.js'
import { freshPostgres, freshRedis } from './helpers/servers.js'
import { silentLogger } from './helpers/sim-client.js'

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'bin.js')
/** The issue's 30 by default (about 90 s on 2 shared cores); VAULT_FLEET_SESSIONS=6 for a quick run. */
const SESSIONS = Array.from({ length: Number(process.env.VAULT_FLEET_SESSIONS ?? 30) }, (_, i) => `s${i + 1}`)
/** Each instance's capacity: room for every session on two instances. */
const CAPACITY = Math.ceil((SESSIONS.length * 2) / 3)
/** Longer than the other lease tests: three instances linking at once on 2 cores slow the round trips (the floor is 3x them). */
const TTL = '3s'

let sim: Simulator
let untrust: () => void
const children: ChildProcess[] = []

before(async () => {
  sim = await startSimulator()
  untrust = trustSimulator(sim)
})

after(async () => {
  children.forEach(c => c.kill('SIGKILL'))
  untrust?.()
  await sim?.stop()
})

/** Links every session once, in this process, then stops it (the lease is released). */
async function provision(url: string) {
  const store = await openStore(url)
  try {
    for (const sessionId of SESSIONS) {
      const session = await startSession({ store, sessionId, socket: { waWebSocketUrl: sim.url, logger: silentLogger as never, markOnlineOnConnect: false } })
      session.on('qr', qr => void sim.phone.scan(qr))
      await new Promise<void>(resolve => session.on('state', ({ state }) => state === 'connected' && resolve()))
      await session.stop()
    }
  } finally {
    await store.close()
  }
}

function startInstance(url: string, name: string) {
  const args = [
    BIN,
    'run',
    url,
    '--all',
    '--capacity',
    String(CAPACITY),
    '--lease-ttl',
    TTL,
    '--server',
    sim.url,
    '--trust-root-key',
    sim.rootPublicKey.toString('hex'),
    '--json'
  ]
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const history: string[] = []
  children.push(child)
  /** Each session's latest state in this instance. */
  const states = new Map<string, string>()
  let buffer = ''
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString()
    let nl
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl)
      buffer = buffer.slice(nl + 1)
      const e = JSON.parse(line) as { event: string; session?: string; state?: string }
      if (e.event === 'state' && e.session) states.set(e.session, e.state!)
      history.push(line)
    }
  })
  const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
  const connected = () => [...states].filter(([, s]) => s === 'connected').map(([id]) => id)
  return { name, child, states, exited, connected, alive: true, report: () => `${name}: ${history.join('\n')}\n${stderr}` }
}

type Instance = ReturnType<typeof startInstance>

/** Waits until every session is connected on exactly one live instance; fails on a double owner. */
async function untilSpread(instances: Instance[], timeoutMs: number) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const owners = new Map<string, string[]>()
    for (const i of instances.filter(i => i.alive)) for (const id of i.connected()) owners.set(id, [...(owners.get(id) ?? []), i.name])
    const doubled = [...owners].filter(([, o]) => o.length > 1)
    assert.deepEqual(doubled, [], 'a session connected on two instances at once')
    if (SESSIONS.every(id => owners.get(id)?.length === 1)) return owners
    if (Date.now() > deadline) assert.fail(`not every session connected once: ${JSON.stringify([...owners])}\n${instances.map(i => i.report()).join('\n')}`)
    await new Promise(r => setTimeout(r, 50))
  }
}

/** How long the fleet is watched while it is steady (every device must hold one connection). */
const STEADY_MS = 1_000

/** Samples the simulator's live connections of `jids` every 50 ms, as the server counts them. */
function watchDevices(jids: string[]) {
  const samples: Array<{ at: number; live: number[] }> = []
  const take = () => samples.push({ at: Date.now(), live: jids.map(jid => sim.device(jid)?.liveConnections ?? 0) })
  const timer = setInterval(take, 50).unref() // a failed test must not keep the process alive
  const kicks = () => jids.flatMap(jid => Object.entries(sim.device(jid)!.kicks).filter(([, n]) => n > 0).map(([reason, n]) => `${jid} ${reason} x${n}`))
  return {
    kicks,
    /** Holds for STEADY_MS, then checks that every sample since `from` saw one connection per device. */
    async steady(from: number, what: string) {
      await new Promise(r => setTimeout(r, STEADY_MS))
      take()
      const off = samples.filter(s => s.at >= from && s.live.some(n => n !== 1))
      assert.deepEqual(off.map(s => s.live.join('')), [], `${what}: the simulator counts one live connection per device`)
    },
    /** The first sample from `from` on where every device had one connection again. */
    allOnlineSince: (from: number) => samples.find(s => s.at >= from && s.live.every(n => n === 1))?.at,
    stop() {
      clearInterval(timer)
      const doubled = samples.filter(s => s.live.some(n => n > 1))
      assert.deepEqual(doubled.map(s => s.live.join('')), [], 'never two live connections for one device')
      return samples.length
    }
  }
}

async function fleet(t: TestContext, url: string, label: string) {
  const linkedBefore = new Set(sim.devices().map(d => d.jid))
  await provision(url)
  const jids = sim
    .devices()
    .map(d => d.jid)
    .filter(jid => !linkedBefore.has(jid))
  assert.equal(jids.length, SESSIONS.length, 'one device linked per session')
  const watch = watchDevices(jids)
  const instances = ['A', 'B', 'C'].map(name => startInstance(url, name))
  const owners = await untilSpread(instances, 120_000)
  await watch.steady(Date.now(), `${label} spread`)
  const counts = instances.map(i => `${i.name}:${i.connected().length}`).join(' ')
  t.diagnostic(`${label} spread: ${counts}`)
  assert.ok(
    instances.every(i => i.connected().length <= CAPACITY),
    'capacity respected'
  )

  const busiest = instances.reduce((a, b) => (b.connected().length > a.connected().length ? b : a))
  const orphans = busiest.connected()
  const killedAt = Date.now()
  busiest.child.kill('SIGKILL')
  busiest.alive = false
  await untilSpread(instances, 30_000)
  t.diagnostic(`${label}: ${orphans.length} sessions of the killed instance connected elsewhere ${Date.now() - killedAt} ms after kill -9 (TTL ${TTL})`)
  const backOnline = watch.allOnlineSince(killedAt)
  t.diagnostic(`${label}: the simulator saw every device online again ${backOnline === undefined ? '(not sampled yet)' : `${backOnline - killedAt} ms`} after kill -9`)
  await watch.steady(Date.now(), `${label} after the takeover`)
  t.diagnostic(
    `${label} after: ${instances
      .filter(i => i.alive)
      .map(i => `${i.name}:${i.connected().length}`)
      .join(' ')}`
  )
  assert.ok(owners.size === SESSIONS.length)

  for (const i of instances.filter(i => i.alive)) i.child.kill('SIGTERM')
  for (const i of instances.filter(i => i.alive)) assert.equal(await i.exited, 0, `${i.name} stops gracefully`)
  t.diagnostic(`${label}: ${watch.stop()} samples of the simulator's connection count`)
  assert.deepEqual(watch.kicks(), [], 'the simulator kicked no device (no 440 replaced)')
}

test(
  'fleet on PostgreSQL: 3 instances share the sessions, each on exactly one; kill -9 one and the others take its sessions',
  { timeout: 300_000 },
  async t => {
    const pg = await freshPostgres('lease_fleet')
    try {
      await fleet(t, pg.url, 'postgres')
    } finally {
      await pg.cleanup()
    }
  }
)

test('fleet on Redis: 3 instances share the sessions, each on exactly one; kill -9 one and the others take its sessions', { timeout: 300_000 }, async t => {
  const redis = await freshRedis('lease_fleet')
  try {
    await fleet(t, redis.url, 'redis')
  } finally {
    await redis.cleanup()
  }
})
