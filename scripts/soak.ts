/**
 * `npm run soak`: the long soak run (test/helpers/soak.ts) with its report; exit 1 when an end
 * condition failed. Defaults: 50 sessions on SQLite and on PostgreSQL, 30 minutes of chaos.
 *
 *   npm run soak -- --minutes 30 --sessions 50 --stores sqlite,postgres,redis
 *   env: SOAK_MINUTES, SOAK_SESSIONS, SOAK_STORES, SOAK_CHAOS_EVERY_S, SOAK_SILENCE_S, SOAK_WARMUP_S,
 *        SOAK_HEAP_SNAPSHOTS (a folder: heap snapshots of each last `run` at warm-up end and at the end)
 */
import { parseArgs } from 'node:util'
import { formatSoak, runSoak, soakProblems, type SoakStore } from '../test/helpers/soak.js'

const { values } = parseArgs({
  options: {
    minutes: { type: 'string' },
    sessions: { type: 'string' },
    stores: { type: 'string' },
    'chaos-every': { type: 'string' },
    silence: { type: 'string' },
    warmup: { type: 'string' },
    'heap-snapshots': { type: 'string' }
  }
})

const number = (flag: string | undefined, env: string, fallback: number): number => {
  const text = flag ?? process.env[env]
  const value = text === undefined ? fallback : Number(text)
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${env} (or its flag) must be a positive number, got "${text}"`)
  return value
}

const stores = (values.stores ?? process.env.SOAK_STORES ?? 'sqlite,postgres').split(',').map(s => s.trim()) as SoakStore[]
for (const s of stores) if (!['sqlite', 'postgres', 'redis'].includes(s)) throw new Error(`unknown store "${s}": sqlite, postgres or redis`)
const minutes = number(values.minutes, 'SOAK_MINUTES', 30)

const report = await runSoak({
  durationMs: minutes * 60_000,
  sessionsPerStore: number(values.sessions, 'SOAK_SESSIONS', 50),
  stores,
  chaosEveryMs: number(values['chaos-every'], 'SOAK_CHAOS_EVERY_S', 10) * 1000,
  // Above the watchdog's 60 s: a silence ends in a 408.
  silenceMs: number(values.silence, 'SOAK_SILENCE_S', 70) * 1000,
  // The last `run` lives the second half. V8's heap grows in a sawtooth of 1-3 minutes (measured
  // at 10 sessions, load 19) and RSS keeps the first peak's pages: the comparison starts after
  // that first cycle, a third into the last run's life (5 minutes of the 15 in a 30-minute soak).
  warmupMs: number(values.warmup, 'SOAK_WARMUP_S', Math.min(300, minutes * 10)) * 1000,
  heapSnapshotDir: values['heap-snapshots'] ?? process.env.SOAK_HEAP_SNAPSHOTS,
  log: line => process.stderr.write(`${new Date().toISOString()} ${line}\n`)
})
process.stdout.write(`${formatSoak(report)}\n`)
const problems = soakProblems(report)
process.stdout.write(problems.length ? `FAILED:\n${problems.map(p => `  - ${p}`).join('\n')}\n` : 'soak passed: every end condition held\n')
process.exitCode = problems.length ? 1 : 0
