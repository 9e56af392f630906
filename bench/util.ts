import { must } from '../src/core/defined.js'
import { releaseAsyncStorages } from './async-storages.js'
import { loadavg } from 'node:os'

/** Shared helpers of the workloads: statistics, tables, sizes from env. Numbers, never assertions. */

export const median = (xs: number[]) => percentile(xs, 50)

/** Nearest-rank percentile (p in 0..100). */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN
  const sorted = [...xs].sort((a, b) => a - b)
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return must(sorted[rank], 'rank is clamped to the indexes of a non-empty list')
}

/** The first of `items` (the baseline target, the first sample), or a clear error when there is none. */
export function first<T>(items: readonly T[], what: string): T {
  const [item] = items
  if (item === undefined) throw new Error(`the bench has no ${what}`)
  return item
}

/** A bench child's spec: the JSON its parent passes as the first argument. */
export function childSpec(): any {
  const text = process.argv[2]
  if (text === undefined) throw new Error('a bench child is started by its workload with its spec (JSON) as the first argument')
  return JSON.parse(text)
}

/** An integer from the environment (benchmark sizes), or the default. */
export function envInt(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number; got "${raw}"`)
  return Math.round(n)
}

export const now = () => performance.now()

export async function timed<T>(fn: () => Promise<T>): Promise<[ms: number, result: T]> {
  const start = performance.now()
  const result = await fn()
  return [performance.now() - start, result]
}

export const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : '-')
export const ratio = (x: number, ceiling: number) => (Number.isFinite(x) && ceiling > 0 ? `${(x / ceiling).toFixed(2)}x` : '-')
/** The "target" cell of a goal on a ratio: `>= 0.9x met` (or `NOT met`); empty without a goal. */
export const ratioGoal = (goal: number | undefined, achieved: number) => (goal === undefined ? '' : `>= ${goal}x ${achieved >= goal ? 'met' : 'NOT met'}`)
export const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1)

export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)))
  const line = (cells: string[]) => `| ${cells.map((c, i) => (c ?? '').padEnd(widths[i] ?? 0)).join(' | ')} |`
  console.log(line(header))
  console.log(`|${widths.map(w => '-'.repeat(w + 2)).join('|')}|`)
  for (const r of rows) console.log(line(r))
  console.log('')
}

export const load = () =>
  loadavg()
    .map(l => l.toFixed(2))
    .join(' ')

/** A short random id for names of throwaway data (schemas, prefixes, folders). */
export const uniqueId = () => `${process.pid.toString(36)}${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`

/**
 * Runs `fn(target)` for every target, `rounds` times, interleaving targets within each round so
 * that machine noise (other processes) hits every target alike. Returns samples by target name.
 */
export async function interleaved<T extends { name: string }>(
  targets: T[],
  rounds: number,
  fn: (target: T, round: number) => Promise<number>
): Promise<Map<string, number[]>> {
  const results = new Map<string, number[]>(targets.map(t => [t.name, []]))
  for (let round = 0; round < rounds; round++) {
    // Odd rounds run in reverse order: no target always runs right after the same neighbour.
    for (const target of round % 2 === 0 ? targets : [...targets].reverse()) {
      // With node --expose-gc (npm run bench): no round pays for the garbage of the one before.
      ;(globalThis as { gc?: () => void }).gc?.()
      results.get(target.name)!.push(await fn(target, round))
      releaseAsyncStorages() // else each target runs slower than the one before (async-storages.ts)
    }
  }
  return results
}

/**
 * The ratio of two medians ("x" of `base`, higher is better for the target when `higherIsBetter`)
 * with its spread: the lowest and highest per-round ratio (rounds paired by index: the two ran
 * back to back in the same interleaved round, under the same load).
 */
export function ratioWithSpread(target: number[], base: number[], higherIsBetter: boolean): { ratio: string; spread: string } {
  const of = (t: number, b: number) => (higherIsBetter ? t / b : b / t)
  const perRound = target.map((t, i) => of(t, base[i] ?? Number.NaN)).filter(Number.isFinite)
  if (perRound.length === 0) return { ratio: '-', spread: '-' }
  const x = of(median(target), median(base))
  return {
    ratio: Number.isFinite(x) ? `${x.toFixed(2)}x` : '-',
    spread: `${Math.min(...perRound).toFixed(2)}-${Math.max(...perRound).toFixed(2)}`
  }
}

/** Samples RSS every few ms while `fn` runs: the peak, for "constant memory" claims. */
export async function withPeakRss<T>(fn: () => Promise<T>): Promise<[peakRss: number, result: T]> {
  let peak = process.memoryUsage.rss()
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss())
  }, 5)
  try {
    const result = await fn()
    peak = Math.max(peak, process.memoryUsage.rss())
    return [peak, result]
  } finally {
    clearInterval(timer)
  }
}
