import { fork, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { must } from '../src/core/defined.js'
import { openStore } from '../src/open-store.js'
import { migrate } from '../src/tools/index.js'
import { runChild, startSimulatorProcess } from './runtime.js'
import type { BenchTarget } from './targets.js'
import { envInt, fmt, load, median, percentile, printTable, uniqueId } from './util.js'

/**
 * Handoff and mass starts (issue 23), against the simulator in its own process; two workloads of
 * `npm run bench` (`npm run bench -- handoff mass-start` runs just these):
 *
 * mass-start: time to all connected for N sessions (BENCH_MASS_SESSIONS, default "50,200,500") started
 *    by one fresh process with createRuntime's ramp (at most 8 handshakes in flight), on SQLite
 *    and PostgreSQL. The largest N are linked once on SQLite first and copied to PostgreSQL with
 *    `migrate` (not timed).
 * handoff: latency at the DEFAULT lease TTL (30 s, so a standby's poll is every 10 s): two
 *    processes keep one session, one owns it and one waits; the owner is told to stop
 *    gracefully, and we time until the other is connected. BENCH_HANDOFFS (default 50) per store,
 *    on SQLite, file:, PostgreSQL and Redis; median and p99, and how each standby was woken.
 *    Then takeover after kill -9 at the default TTL: BENCH_TAKEOVERS (default 5) per store.
 */
const childFile = fileURLToPath(new URL('./handoff-child.js', import.meta.url))

interface Keeper {
  proc: ChildProcess
  next(match: (m: Record<string, any>) => boolean, timeoutMs?: number): Promise<Record<string, any>>
}

/**
 * One child and its messages. Each `next` takes one matching message out of the inbox; a waiter
 * left pending would take the next match for itself, so every `next` is awaited before another
 * is asked of the same child. A child that exits fails its waiters at once.
 */
function keeper(spec: Record<string, string>): Keeper {
  const proc = fork(childFile, [JSON.stringify(spec)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  const inbox: Array<Record<string, any>> = []
  const waiters = new Set<() => void>()
  let exit: string | undefined
  proc.on('message', m => {
    inbox.push(m as Record<string, any>)
    waiters.forEach(w => w())
  })
  proc.on('exit', (code, signal) => {
    exit = `exited (${signal ?? code})`
    waiters.forEach(w => w())
  })
  return {
    proc,
    next(match, timeoutMs = 120_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const at = inbox.findIndex(match)
          if (at < 0 && exit === undefined) return
          waiters.delete(check)
          clearTimeout(timer)
          if (at < 0) reject(new Error(`handoff bench child ${exit}; got ${JSON.stringify(inbox)}`))
          else resolve(must(inbox.splice(at, 1)[0], 'at is an index findIndex found'))
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`handoff bench child: timed out; got ${JSON.stringify(inbox)}`))
        }, timeoutMs)
        waiters.add(check)
        check()
      })
    }
  }
}

const wallNow = () => performance.timeOrigin + performance.now()

async function handoffs(sim: { url: string; rootKey: string }, name: string, storeUrl: string): Promise<string[]> {
  const session = 'handoff'
  await runChild('link', sim as never, storeUrl, [session])
  const spec = { url: sim.url, rootKey: sim.rootKey, storeUrl, session }
  // The owner first, then the standby: a race for the first `connected` would leave the loser's
  // waiter pending, and it would take that child's first handoff message for itself.
  const keepers: Keeper[] = []
  const start = () => {
    const k = keeper(spec)
    keepers.push(k)
    return k
  }
  let owner = start()
  const latencies: number[] = []
  const wakes = new Map<string, number>()
  try {
    await owner.next(m => m.connected === true)
    await owner.next(m => m.ready === true)
    let standby = start()
    await standby.next(m => m.standby === true)
    for (let i = 0; i < envInt('BENCH_HANDOFFS', 50); i++) {
      const started = wallNow()
      owner.proc.send({ yield: true })
      const got = await standby.next(m => m.connected === true)
      latencies.push(got.at - started)
      wakes.set(String(got.wake), (wakes.get(String(got.wake)) ?? 0) + 1)
      await owner.next(m => m.yielded === true)
      owner.proc.send({ stand: true }) // only now: a process that kept it at once would take its release back
      await owner.next(m => m.standby === true)
      ;[owner, standby] = [standby, owner]
    }
    // kill -9 of the owner; the standby of the same host sees its pid gone.
    const kills: number[] = []
    for (let i = 0; i < envInt('BENCH_TAKEOVERS', 5); i++) {
      await new Promise(r => setTimeout(r, 1_000)) // the standby waits (its first poll was taken)
      const started = wallNow()
      owner.proc.kill('SIGKILL')
      const got = await standby.next(m => m.connected === true)
      kills.push(got.at - started)
      wakes.set(`kill:${got.wake}`, (wakes.get(`kill:${got.wake}`) ?? 0) + 1)
      owner = start()
      await owner.next(m => m.standby === true)
      ;[owner, standby] = [standby, owner]
    }
    return [
      name,
      String(latencies.length),
      fmt(median(latencies)),
      fmt(percentile(latencies, 99)),
      fmt(Math.max(...latencies)),
      kills.length ? `${fmt(median(kills))} / ${fmt(Math.max(...kills))}` : '-',
      [...wakes].map(([k, v]) => `${k} ${v}`).join(', ')
    ]
  } finally {
    for (const k of keepers) k.proc.kill('SIGKILL') // the ones killed already: a no-op
  }
}

async function copyStore(fromUrl: string, toUrl: string): Promise<void> {
  const [from, to] = [await openStore(fromUrl), await openStore(toUrl)]
  try {
    await migrate(from, to)
  } finally {
    await from.close()
    await to.close()
  }
}

async function withPostgresDb<T>(fn: (url: string) => Promise<T>): Promise<T | undefined> {
  const base = process.env.VAULT_TEST_POSTGRES_URL
  if (!base) return undefined
  const { default: pg } = await import('pg')
  const name = `bench_handoff_${uniqueId()}`
  const admin = new pg.Client({ connectionString: base })
  await admin.connect()
  await admin.query(`CREATE DATABASE "${name}"`)
  await admin.end()
  const url = new URL(base)
  url.pathname = `/${name}`
  try {
    return await fn(url.toString())
  } finally {
    const c = new pg.Client({ connectionString: base })
    await c.connect()
    await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
    await c.end()
  }
}

/** `handoff`: latency of graceful handoffs and kill -9 takeovers at the default TTL, on every store. */
export async function runHandoff(_targets: BenchTarget[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vault-handoff-'))
  const sim = await startSimulatorProcess()
  try {
    console.log(
      `## Handoff at the default TTL (30 s: a standby polls every 10 s as the fallback) — graceful stop of the owner to the standby connected, two processes, ${envInt('BENCH_HANDOFFS', 50)} handoffs and ${envInt('BENCH_TAKEOVERS', 5)} kill -9 per store\n`
    )
    const rows: string[][] = []
    const row = async (name: string, storeUrl: string) => {
      rows.push([...(await handoffs(sim, name, storeUrl)), load()])
    }
    await row('sqlite', `sqlite:${join(dir, 'handoff.db')}`)
    await row('file', `file:${join(dir, 'handoff-auth')}`)
    await withPostgresDb(url => row('postgres', url))
    if (process.env.VAULT_TEST_REDIS_URL) {
      const url = new URL(process.env.VAULT_TEST_REDIS_URL)
      url.searchParams.set('prefix', `bench-handoff-${uniqueId()}`)
      await row('redis', url.toString())
    }
    printTable(['store', 'handoffs', 'median ms', 'p99 ms', 'max ms', 'kill -9 median / max ms', 'woken by', 'load after'], rows)
  } finally {
    await sim.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** `mass-start`: time to all connected for N sessions started by one fresh process through the ramp. */
export async function runMassStart(_targets: BenchTarget[]): Promise<void> {
  const sizes = (process.env.BENCH_MASS_SESSIONS ?? '50,200,500').split(',').map(s => Number(s.trim()))
  if (sizes.some(n => !Number.isInteger(n) || n <= 0)) throw new Error(`BENCH_MASS_SESSIONS must be positive integers, e.g. "50,200,500"`)
  const largest = Math.max(...sizes)
  const dir = mkdtempSync(join(tmpdir(), 'vault-mass-'))
  const sim = await startSimulatorProcess()
  try {
    console.log(`## Mass start — N sessions, one fresh process, createRuntime's ramp (maxConnecting 8), simulator in another process\n`)
    const ids = Array.from({ length: largest }, (_, i) => `mass-${String(i).padStart(4, '0')}`)
    const rows: string[][] = []
    const timeStarts = async (name: string, storeUrl: string) => {
      for (const n of sizes) {
        const r = await runChild('runtime', sim, storeUrl, ids.slice(0, n))
        rows.push([name, String(n), fmt(r.ms / 1000, 1), fmt(r.cpuMs / 1000, 1), load()])
      }
    }
    const sqlite = `sqlite:${join(dir, 'mass.db')}`
    const { linkMs } = await runChild('link', sim, sqlite, ids)
    console.log(`linked ${largest} devices on SQLite in ${fmt(linkMs / 1000, 1)} s (setup); load ${load()}`)
    await timeStarts('sqlite', sqlite)
    await withPostgresDb(async url => {
      // The same devices, copied (linking them again would take as long as the first time).
      await copyStore(sqlite, url)
      await timeStarts('postgres', url)
    })
    console.log('')
    printTable(['store', 'sessions', 'all connected s', 'CPU s', 'load after'], rows)
  } finally {
    await sim.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}
