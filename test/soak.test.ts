/**
 * The soak run, short (`npm run soak` is the 30-minute one): a few sessions per store on SQLite
 * and PostgreSQL under `run --all` with a supervisor, through kicks, silences, simulator and
 * PostgreSQL restarts and SIGKILLs of `run`, 3 minutes of chaos. Asserts the end conditions only
 * (every session answers a ping, no QR, never failed, RSS and descriptors after warm-up within the
 * looser bounds below), not timings. VAULT_SOAK_SECONDS / VAULT_SOAK_SESSIONS change the size.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { formatSoak, runSoak, soakProblems } from './helpers/soak.js'

const seconds = Number(process.env.VAULT_SOAK_SECONDS ?? 180)

test('soak: sessions survive kicks, silences, restarts and SIGKILLs, and answer at the end', { timeout: (seconds + 480) * 1000 }, async t => {
  const report = await runSoak({
    durationMs: seconds * 1000,
    sessionsPerStore: Number(process.env.VAULT_SOAK_SESSIONS ?? 5),
    stores: ['sqlite', 'postgres'],
    chaosEveryMs: 4_000,
    silenceMs: 5_000,
    warmupMs: 20_000,
    sampleMs: 2_000,
    log: line => t.diagnostic(line)
  })
  for (const line of formatSoak(report).split('\n')) t.diagnostic(line)
  // The last `run` lives the second half (90 s); after a 20 s warm-up that is less than one cycle
  // of V8's heap sawtooth (1-3 minutes, RSS ±20 % with it) and the PostgreSQL pool (max 10) plus
  // its LISTEN connection may still be filling after the restarts: the short run bounds growth
  // loosely (25 %, the pool's 10 + 1 listener + 1 descriptors) and `npm run soak` (30 minutes)
  // holds the 10 % / 4 bound. Not tightened: with the AsyncLocalStorage leak fixed, one 3-minute
  // run (load 18-23) measured RSS -19.3 % (postgres) and -25.2 % (sqlite), descriptors 27 -> 26
  // and 28 -> 28, but before it a CI run saw descriptors 19 -> 28; one run is not enough to cut.
  assert.deepEqual(soakProblems(report, { rssGrowth: 0.25, fdSlack: 12 }), [])
  assert.ok(Object.values(report.actions).reduce((a, b) => a + b, 0) >= 10, `the chaos acted: ${JSON.stringify(report.actions)}`)
})
