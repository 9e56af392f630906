/**
 * Calm mass starts: `run --all` over 60 linked sessions (VAULT_MASS_SESSIONS to change it) keeps at
 * most --max-connecting handshakes in flight, as the simulator counts them (GET /handshakes: from
 * the WebSocket upgrade to the login's success), shows the waiting sessions as `queued`, and
 * connects them all; after a simulator restart the reconnects keep the same bound.
 * Controls: the handshakes did overlap (a peak above 1: the bound is not met only because the
 * machine ran them one by one); how many sessions waited in `queued` is reported.
 * The sessions are linked first by an in-process runtime (its own ramp of 16; not timed). The time to all-connected is measured and reported, never asserted.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { openStore } from '../../src/open-store.js'
import { createRuntime } from '../../src/runtime/index.js'
import { startSimulator, trustSimulator, type Simulator } from '../../src/sim/index.js'
import { entered, spawnCli, type CliChild } from '../helpers/run-child.js'
import { silentLogger } from '../helpers/sim-client.js'

const COUNT = Number(process.env.VAULT_MASS_SESSIONS ?? 60)
const MAX = 8
const IDS = Array.from({ length: COUNT }, (_, i) => `m${String(i + 1).padStart(3, '0')}`)

let sim: Simulator
let untrust: () => void
let dir: string
const children: CliChild[] = []

before(async () => {
  sim = await startSimulator()
  untrust = trustSimulator(sim)
  dir = mkdtempSync(join(tmpdir(), 'vault-mass-'))
})

after(async () => {
  children.forEach(c => c.kill())
  untrust?.()
  await sim?.stop()
  rmSync(dir, { recursive: true, force: true })
})

const control = (path: string, method = 'GET') => fetch(sim.url.replace(/^ws/, 'http') + path, { method }).then(r => r.json()) as Promise<any>

/** Links every session with an in-process runtime (its own ramp), scanning each QR as the phone. */
async function provision(url: string, maxConnecting: number): Promise<void> {
  const store = await openStore(url)
  const runtime = createRuntime({ store, maxConnecting, socket: { waWebSocketUrl: sim.url, logger: silentLogger as never, markOnlineOnConnect: false } })
  try {
    await Promise.all(
      IDS.map(async id => {
        const session = await runtime.start(id)
        session.on('qr', qr => void sim.phone.scan(qr).catch(() => undefined))
        await new Promise<void>(resolve => session.on('state', ({ state }) => state === 'connected' && resolve()))
      })
    )
  } finally {
    await runtime.stop()
    await store.close()
  }
}

test(`run --all: ${COUNT} sessions connect with at most ${MAX} handshakes in flight, also after a simulator restart`, { timeout: 600_000 }, async t => {
  const url = `sqlite:${join(dir, 'wa.db')}`
  await control('/handshakes/reset', 'POST')
  let started = performance.now()
  await provision(url, 16)
  const linking = await control('/handshakes')
  t.diagnostic(`linked ${COUNT} sessions in ${((performance.now() - started) / 1000).toFixed(1)} s with maxConnecting 16: peak ${linking.peak} handshakes`)
  assert.ok(linking.peak <= 16, `the in-process runtime held its own bound of 16 (${linking.peak})`)

  await control('/handshakes/reset', 'POST')
  started = performance.now()
  const run = spawnCli([
    'run',
    url,
    '--all',
    '--json',
    '--max-connecting',
    String(MAX),
    '--server',
    sim.url,
    '--trust-root-key',
    sim.rootPublicKey.toString('hex')
  ])
  children.push(run)
  await run.waitFor(entered('connected'), { what: `all ${COUNT} connected`, nth: COUNT, timeoutMs: 240_000 })
  const startMs = performance.now() - started
  const first = await control('/handshakes')
  const connected = new Set(run.events.filter(entered('connected')).map(e => e.session))
  assert.equal(connected.size, COUNT, 'every session connected')
  assert.ok(first.peak <= MAX, `at most ${MAX} handshakes in flight at the start (the simulator counted ${first.peak})`)
  assert.ok(first.peak > 1, 'handshakes did run in parallel')
  const queued = new Set(run.events.filter(entered('queued')).map(e => e.session))
  // How many waited in `queued` depends on the machine's speed (sessions start one after another): reported only.
  assert.equal(run.events.filter(e => e.event === 'qr').length, 0, 'no QR')
  t.diagnostic(
    `run --all: ${COUNT} sessions connected in ${(startMs / 1000).toFixed(1)} s, peak ${first.peak} handshakes in flight (max ${MAX}), ${queued.size} queued`
  )

  // The server restarts: every session drops at once and comes back through the same ramp.
  await control('/handshakes/reset', 'POST')
  const before = run.events.length
  started = performance.now()
  await sim.restart()
  await run.waitFor(entered('connected'), { what: `all ${COUNT} reconnected`, from: before, nth: COUNT, timeoutMs: 240_000 })
  const again = await control('/handshakes')
  t.diagnostic(
    `after a simulator restart: ${COUNT} reconnected in ${((performance.now() - started) / 1000).toFixed(1)} s, peak ${again.peak} handshakes in flight`
  )
  assert.ok(again.peak <= MAX, `at most ${MAX} handshakes in flight on the way back (the simulator counted ${again.peak})`)
  assert.equal(
    new Set(
      run.events
        .slice(before)
        .filter(entered('connected'))
        .map(e => e.session)
    ).size,
    COUNT,
    'every session reconnected'
  )
  assert.equal(run.events.filter(e => e.event === 'qr').length, 0, 'no QR after the restart')

  run.kill('SIGTERM')
  assert.equal((await run.exited(60_000)).code, 0)
})
