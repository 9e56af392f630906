import { fork, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { BenchTarget } from './targets.js'
import { envInt, fmt, mb, median, printTable } from './util.js'

/**
 * Runtime (issue 12, benchmark): N sessions in one process against the simulator running in
 * another (`baileys-vault sim --json`), on one SQLite store. Setup (not timed): the largest N
 * devices are linked once by QR (POST /scan), `BENCH_RUNTIME_LINK_BATCH` at a time, and stopped.
 * Then, from that warm store, each N is started in a fresh process twice — with the runtime
 * (createRuntime + start) and bare (store.useAuthState + makeWASocket, nothing else) — and we
 * measure the time from start to all connected (and the CPU the process spent meanwhile: steadier
 * than wall time on a shared machine), and the RSS and heap per connected idle session after a
 * settle and a gc (the growth over the process before its first session). The 10% target is
 * checked on live RSS (RSS without V8's empty committed heap, see the note printed with it).
 * Sizes: BENCH_RUNTIME_SESSIONS (default "10,100"), BENCH_RUNTIME_ROUNDS (3; single-process RSS swings by tens of MB with V8's heap sizing),
 * BENCH_RUNTIME_SETTLE_MS (5000), BENCH_RUNTIME_LINK_BATCH (10).
 */
const child = fileURLToPath(new URL('./runtime-child.js', import.meta.url))
const bin = fileURLToPath(new URL('../src/cli/bin.js', import.meta.url))
const TIMEOUT_MS = 300_000

interface Simulator {
  url: string
  rootKey: string
  stop(): Promise<void>
}

/** The simulator in its own process, as a bot's test would run it. */
export async function startSimulatorProcess(): Promise<Simulator> {
  const proc = spawn(process.execPath, [bin, 'sim', '--json'], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = new Promise<void>(resolve => proc.once('exit', () => resolve()))
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).once('line', resolve)
    proc.once('exit', code => reject(new Error(`baileys-vault sim exited (${code}) before printing its URL`)))
  })
  const { url, rootPublicKey } = JSON.parse(line) as { url: string; rootPublicKey: string }
  return {
    url,
    rootKey: rootPublicKey,
    async stop() {
      proc.kill('SIGTERM')
      await exited
    }
  }
}

type Mode = 'link' | Measured
type Measured = 'runtime' | 'bare'
interface ChildResult {
  ms: number
  cpuMs: number
  rss: number
  heap: number
  heapTotal: number
  external: number
  linkMs: number
}

/** What one process measured, plus its RSS without V8's empty committed heap. */
type Figures = Omit<ChildResult, 'linkMs' | 'external'> & { live: number }
const figures = (r: ChildResult): Figures => ({
  ms: r.ms,
  cpuMs: r.cpuMs,
  rss: r.rss,
  heap: r.heap,
  heapTotal: r.heapTotal,
  live: r.rss - r.heapTotal + r.heap
})

/** One fresh process (so its RSS holds only what the mode needs); resolves with its result. */
export function runChild(mode: Mode, sim: Simulator, storeUrl: string, sessions: string[]): Promise<ChildResult> {
  const spec = {
    mode,
    url: sim.url,
    rootKey: sim.rootKey,
    storeUrl,
    sessions,
    batch: envInt('BENCH_RUNTIME_LINK_BATCH', 10),
    settleMs: envInt('BENCH_RUNTIME_SETTLE_MS', 5_000),
    timeoutMs: TIMEOUT_MS
  }
  return new Promise((resolve, reject) => {
    const proc: ChildProcess = fork(child, [JSON.stringify(spec)], { execArgv: ['--expose-gc'], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] })
    let stderr = ''
    proc.stderr!.on('data', chunk => (stderr = (stderr + chunk).slice(-4000)))
    let result: (ChildResult & { error?: string }) | undefined
    proc.on('message', message => (result = message as typeof result))
    proc.on('exit', code => {
      if (result && !result.error) resolve(result)
      else reject(new Error(`runtime bench child (${mode}) failed (exit ${code}): ${result?.error ?? stderr.trim()}`))
    })
  })
}

const sessionId = (i: number) => `bench-${String(i).padStart(4, '0')}`
const overhead = (runtime: number, bare: number) => `${(((runtime - bare) / bare) * 100).toFixed(1)}%`

export async function runRuntime(_targets: BenchTarget[]): Promise<void> {
  const sizes = (process.env.BENCH_RUNTIME_SESSIONS ?? '10,100').split(',').map(s => Number(s.trim()))
  if (sizes.some(n => !Number.isInteger(n) || n <= 0)) throw new Error(`BENCH_RUNTIME_SESSIONS must be positive integers, e.g. "10,100"`)
  const rounds = envInt('BENCH_RUNTIME_ROUNDS', 3)
  const largest = Math.max(...sizes)
  console.log(
    `## Runtime — ${sizes.join(' and ')} sessions in one process, simulator in another, one SQLite store (default: shared flush); runtime vs bare makeWASocket, each in a fresh process, median of ${rounds} round(s)\n`
  )

  const dir = mkdtempSync(join(tmpdir(), 'vault-runtime-'))
  const storeUrl = `sqlite:${join(dir, 'runtime.db')}`
  const sim = await startSimulatorProcess()
  try {
    const ids = Array.from({ length: largest }, (_, i) => sessionId(i))
    const { linkMs } = await runChild('link', sim, storeUrl, ids)
    console.log(
      `setup: linked ${largest} devices by QR in ${fmt(linkMs / 1000, 1)} s (${fmt(linkMs / largest)} ms per device, ${envInt('BENCH_RUNTIME_LINK_BATCH', 10)} at a time)\n`
    )

    const medians = new Map<number, Record<Measured, Figures>>()
    const detail: string[][] = []
    for (const n of sizes) {
      const got: Record<Measured, Figures[]> = { runtime: [], bare: [] }
      for (let round = 0; round < rounds; round++) {
        // Alternate which goes first, so a warmer page cache or a busier minute favours neither.
        const order: Measured[] = round % 2 ? ['bare', 'runtime'] : ['runtime', 'bare']
        for (const mode of order) {
          const r = figures(await runChild(mode, sim, storeUrl, ids.slice(0, n)))
          got[mode].push(r)
          detail.push([String(n), mode, String(round + 1), fmt(r.ms), fmt(r.cpuMs), mb(r.rss), mb(r.heapTotal), mb(r.heap), mb(r.live)])
        }
      }
      const med = (mode: Measured): Figures => {
        const m = (k: keyof Figures) => median(got[mode].map(r => r[k]))
        return { ms: m('ms'), cpuMs: m('cpuMs'), rss: m('rss'), heap: m('heap'), heapTotal: m('heapTotal'), live: m('live') }
      }
      medians.set(n, { runtime: med('runtime'), bare: med('bare') })
    }
    const kb = (bytes: number) => fmt(bytes / 1024)
    const row = (label: string, r: Figures, b: Figures, per: number) => {
      const [liveR, liveB] = [r.live / per, b.live / per]
      const target = `<= 10% ${liveR <= liveB * 1.1 ? 'met' : 'NOT met'}`
      return [
        label,
        fmt(r.ms),
        fmt(b.ms),
        fmt(r.cpuMs),
        fmt(b.cpuMs),
        mb(r.rss / per),
        mb(b.rss / per),
        mb(liveR),
        mb(liveB),
        overhead(liveR, liveB),
        target,
        kb(r.heap / per),
        kb(b.heap / per)
      ]
    }
    const rows = sizes.map(n => row(String(n), medians.get(n)!.runtime, medians.get(n)!.bare, n))
    if (sizes.length > 1) {
      // Growth from the smallest to the largest N: what one more session costs, without the
      // one-time costs (code compiled on first use, allocator arenas) that growth / N includes.
      const [lo, hi] = [Math.min(...sizes), largest]
      const diff = (mode: Measured): Figures => {
        const [a, b] = [medians.get(lo)![mode], medians.get(hi)![mode]]
        return { ms: NaN, cpuMs: NaN, rss: b.rss - a.rss, heap: b.heap - a.heap, heapTotal: NaN, live: b.live - a.live }
      }
      rows.push(row(`marginal ${lo}->${hi}`, diff('runtime'), diff('bare'), hi - lo))
    }
    printTable(
      [
        'sessions',
        'all connected ms: runtime',
        'bare',
        'CPU ms: runtime',
        'bare',
        'RSS MB / session: runtime',
        'bare',
        'live RSS MB / session: runtime',
        'bare',
        'overhead',
        'target',
        'heap KB / session: runtime',
        'bare'
      ],
      rows
    )
    console.log('live RSS = RSS - heap committed + heap used: V8 keeps a varying amount of empty heap committed (±30 MB here, run to run),')
    console.log('which swamps the difference per session in raw RSS; live RSS keeps everything else (native memory, live objects).\n')
    console.log('Each process (growth over its baseline before the first session, MB):\n')
    printTable(['sessions', 'mode', 'round', 'all connected ms', 'CPU ms', 'RSS', 'heap committed', 'heap used', 'live RSS'], detail)
  } finally {
    await sim.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}
