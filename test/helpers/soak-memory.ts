/**
 * How the soak reads a `run`'s memory: a preload that logs V8's heap as it goes, and an
 * equal-state reading (a full, compacting collection on request, then RSS from /proc). A leak
 * shows in the reading; V8's sawtooth and the pages it keeps committed after a peak do not.
 */
import type { ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

/**
 * Preloaded into each `run` (NODE_OPTIONS --require; env VAULT_SOAK_MEMORY_FILE and
 * VAULT_SOAK_MEMORY_MS): appends process.memoryUsage() to a file so the soak sees V8's heap,
 * not only RSS. On SIGWINCH (ignored by default) it collects: a full collection, then a second
 * one a second later that also compacts the old space (V8 otherwise keeps the pages of its last
 * peak committed: 224 MB committed for 14 MB used in a fragmented heap, 47 MB after compaction),
 * then appends a line to `<file>.settled`.
 */
export const MEMORY_PRELOAD = `const { appendFileSync } = require('node:fs')
const file = process.env.VAULT_SOAK_MEMORY_FILE
setInterval(() => {
  const m = process.memoryUsage()
  try { appendFileSync(file, JSON.stringify({ at: Date.now(), heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers }) + '\\n') } catch {}
}, Number(process.env.VAULT_SOAK_MEMORY_MS ?? 5000)).unref()
const v8 = require('node:v8')
v8.setFlagsFromString('--expose-gc')
const gc = require('node:vm').runInNewContext('gc')
process.on('SIGWINCH', () => {
  gc()
  setTimeout(() => {
    v8.setFlagsFromString('--compact-on-every-full-gc')
    try { gc() } finally { v8.setFlagsFromString('--no-compact-on-every-full-gc') }
    const m = process.memoryUsage()
    try { appendFileSync(file + '.settled', JSON.stringify({ at: Date.now(), heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external }) + '\\n') } catch {}
  }, 1000).unref()
})
`

/** One equal-state reading of a process (see StoreReport.settled). */
export interface SettledPoint {
  /** Seconds since the process started. */
  s: number
  rssMb: number
  heapUsedMb: number
  /** V8's committed heap: what of RSS the heap still holds after the collection. */
  heapTotalMb: number
  externalMb: number
  fds: number
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

/** A process's resident set (KB), from /proc; throws once it has exited. */
export const rssKbOf = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1])

/**
 * Asks a process started with MEMORY_PRELOAD to collect, waits for its line (up to `answerMs`)
 * and for the kernel to see the freed pages (`settleMs`), then reads RSS and descriptors.
 * Undefined if it did not answer or exited meanwhile.
 */
export async function settledReading(options: {
  child: ChildProcess
  memoryFile: string
  startedAt: number
  answerMs?: number
  settleMs?: number
}): Promise<SettledPoint | undefined> {
  const { child, memoryFile, startedAt } = options
  const lines = () => {
    try {
      return readFileSync(`${memoryFile}.settled`, 'utf8').trimEnd().split('\n').filter(Boolean)
    } catch {
      return []
    }
  }
  const before = lines().length
  if (!child.pid || child.exitCode !== null || child.signalCode !== null) return undefined
  child.kill('SIGWINCH')
  const until = Date.now() + (options.answerMs ?? 15_000)
  while (lines().length === before && Date.now() < until) await sleep(200)
  const line = lines()[before]
  if (!line) return undefined
  await sleep(options.settleMs ?? 2_000)
  try {
    const rssKb = rssKbOf(child.pid)
    const m = JSON.parse(line) as { heapUsed: number; heapTotal: number; external: number }
    return {
      s: Math.round((Date.now() - startedAt) / 1000),
      rssMb: rssKb / 1024,
      heapUsedMb: m.heapUsed / 2 ** 20,
      heapTotalMb: m.heapTotal / 2 ** 20,
      externalMb: m.external / 2 ** 20,
      fds: readdirSync(`/proc/${child.pid}/fd`).length
    }
  } catch {
    return undefined // it exited meanwhile
  }
}
