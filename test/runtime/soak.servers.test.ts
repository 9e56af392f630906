/**
 * The soak run, short (`npm run soak` is the 30-minute one): a few sessions per store on SQLite
 * and PostgreSQL under `run --all` with a supervisor, through kicks, silences, simulator and
 * PostgreSQL restarts and SIGKILLs of `run`, 3 minutes of chaos. Asserts the end conditions only
 * (every session answers a ping, no QR, never failed, RSS and descriptors after warm-up within the
 * looser bounds below), not timings. VAULT_SOAK_SECONDS / VAULT_SOAK_SESSIONS change the size.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { formatSoak, runSoak, soakProblems } from '../helpers/soak.js'

const seconds = Number(process.env.VAULT_SOAK_SECONDS ?? 180)

test('soak: sessions survive kicks, silences, restarts and SIGKILLs, and answer at the end', { timeout: (seconds + 480) * 1000 }, async t => {
  const report = await runSoak({
    durationMs: seconds * 1000,
    sessionsPerStore: Number(process.env.VAULT_SOAK_SESSIONS ?? 5),
    stores: ['sqlite', 'postgres'],
    chaosEveryMs: 4_000,
    silenceMs: 5_000,
    warmupMs: 60_000,
    sampleMs: 2_000,
    log: line => t.diagnostic(line)
  })
  for (const line of formatSoak(report).split('\n')) t.diagnostic(line)
  // The last `run` lives the second half, 90-130 s: its RSS climbs for its first minute (hence the
  // 60 s warm-up), then follows V8's heap sawtooth (cycles of 1-3 minutes, ±20 % or more), so 3
  // minutes cannot show a plateau. Measured after the AsyncLocalStorage fix, load 18-26: one run
  // RSS -19.3 % (postgres) / -25.2 % (sqlite), the next +5.2 % / +42.5 % (sqlite's heap in its
  // upswing, 33 -> 58 MB, while its floor fell). The bound is 50 %: a gross leak only; the slow
  // one it never caught (+14.7 % / +8.4 % before the fix) is guarded by socket-storages.test.ts, and
  // `npm run soak` (30 minutes) holds the 10 % / 4 bound. Descriptors: the PostgreSQL pool (max
  // 10) and its LISTEN connection may still fill after the restarts (19 -> 28 seen): slack 12.
  assert.deepEqual(soakProblems(report, { rssGrowth: 0.5, fdSlack: 12 }), [])
  assert.ok(Object.values(report.actions).reduce((a, b) => a + b, 0) >= 10, `the chaos acted: ${JSON.stringify(report.actions)}`)
})
