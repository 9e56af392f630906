import { readFileSync, readdirSync, statSync } from 'node:fs'
import { backup } from '../src/tools/backup.js'
import { migrate } from '../src/tools/migrate.js'
import { openStore } from '../src/open-store.js'
import { childSpec, withPeakRss } from './util.js'

/** Child of the bulk workload: one migrate or backup in a fresh process; prints keys, ms and RSS. */
const spec = childSpec()
const decodeOptions = (o: any) => {
  if (o?.encryption) o.encryption.keys = Object.fromEntries(Object.entries(o.encryption.keys).map(([k, v]) => [k, Buffer.from(v as string, 'base64')]))
  return o ?? {}
}
/**
 * CPU time of this process's main thread (ms; Linux /proc, undefined elsewhere): with the folder
 * read on a worker thread, the main thread bounds the wall time on a quiet 2-core machine.
 */
function mainThreadCpuMs(): number | undefined {
  return threadCpuMs(process.pid)
}

/** CPU time of one thread of this process (ms; Linux /proc, undefined elsewhere or once it ended). */
function threadCpuMs(tid: number): number | undefined {
  try {
    // Fields after the command name: utime and stime are the 12th and 13th (clock ticks, 100 Hz).
    const fields = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return undefined
  }
}

/**
 * CPU time per thread other than the main one, sampled every 20 ms (a thread that ends, such as
 * a read-ahead worker, keeps its last sample): threads present at the start (V8's GC and compiler
 * threads, libuv's pool if already started) apart from those started during the operation (the
 * read-ahead worker threads, and libuv's pool when the operation started it).
 */
function threadSampler(): { stop(): { atStartMs: number; startedMs: number } } {
  const tids = () => {
    try {
      return readdirSync('/proc/self/task').map(Number)
    } catch {
      return []
    }
  }
  const before = new Map(tids().map(tid => [tid, threadCpuMs(tid) ?? 0]))
  const last = new Map<number, number>()
  const sample = () => {
    for (const tid of tids()) if (tid !== process.pid) last.set(tid, threadCpuMs(tid) ?? last.get(tid) ?? 0)
  }
  const timer = setInterval(sample, 20)
  return {
    stop() {
      clearInterval(timer)
      sample()
      let atStartMs = 0
      let startedMs = 0
      for (const [tid, ms] of last) {
        if (before.has(tid)) atStartMs += ms - before.get(tid)!
        else startedMs += ms
      }
      return { atStartMs, startedMs }
    }
  }
}

const from = await openStore(spec.from.url, decodeOptions(spec.from.options))
const to = spec.to ? await openStore(spec.to.url, decodeOptions(spec.to.options)) : undefined
const baseRss = process.memoryUsage.rss()
const start = performance.now()
const cpuStart = process.cpuUsage()
const mainStart = mainThreadCpuMs()
const threads = threadSampler()
let keys = 0
let bytes: number | undefined
const [sampledPeak] = await withPeakRss(async () => {
  if (spec.op === 'migrate') {
    const r = await migrate(from, to!, { overwrite: !!spec.overwrite })
    if (!r.ok) throw new Error(`migrate reported mismatches: ${JSON.stringify(r.sessions[0]?.mismatches.slice(0, 3))}`)
    keys = r.keys
  } else if (spec.op === 'backup') {
    const r = await backup(from, spec.file)
    keys = r.keys
    bytes = statSync(spec.file).size
  } else if (spec.op === 'drop') {
    for await (const s of from.sessions()) await from.drop(s)
  }
})
const ms = performance.now() - start
const { atStartMs, startedMs } = threads.stop()
// The kernel's high-water mark of the process (getrusage maxrss, KiB): the sampling timer above
// never fires while a migration runs without yielding to the event loop (synchronous reads and
// commits), so alone it would report the RSS at the end, not the peak.
const peakRss = Math.max(sampledPeak, process.resourceUsage().maxRSS * 1024)
const cpu = process.cpuUsage(cpuStart)
// CPU time of the operation (user + system, all threads): steadier than wall time on a shared machine.
const cpuMs = (cpu.user + cpu.system) / 1000
const mainEnd = mainThreadCpuMs()
const mainCpuMs = mainStart === undefined || mainEnd === undefined ? undefined : mainEnd - mainStart
await from.close()
await to?.close()
process.stdout.write(JSON.stringify({ keys, ms, cpuMs, mainCpuMs, threadsAtStartCpuMs: atStartMs, threadsStartedCpuMs: startedMs, baseRss, peakRss, bytes }))
