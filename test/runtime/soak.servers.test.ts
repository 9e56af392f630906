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
  // The RSS and descriptor checks compare the last `run`'s two equal-state readings (every session
  // connected, after a compacting GC; helpers/soak-memory.ts): warm at ~155 s, at the end ~180 s.
  // Measured 2026-12-05 (load ~1): +10.3 % (postgres) / +10.4 % (sqlite) with heap used flat, the
  // young generation still growing in a `run`'s first minutes (committed heap +16 MB in both).
  // So the bound here is 50 %: a gross leak only; `npm run soak` (30 minutes) holds 10 % / 4, and
  // the slow leak found before is guarded by socket-storages.test.ts. Descriptors: the PostgreSQL
  // pool (max 10) and its LISTEN connection may still fill after the restarts: slack 12.
  assert.deepEqual(soakProblems(report, { rssGrowth: 0.5, fdSlack: 12 }), [])
  assert.ok(Object.values(report.actions).reduce((a, b) => a + b, 0) >= 10, `the chaos acted: ${JSON.stringify(report.actions)}`)
})
