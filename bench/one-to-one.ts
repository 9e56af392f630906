import { SignalDevice } from '../test/helpers/signal-device.js'
import { startCpuMeter, type CpuPerMessage } from './cpu-meter.js'
import { asRelayed } from './signal.js'
import { boundMsgPerSecond, commitLatencyMs, isDurable } from './bound.js'
import { printFencingCost } from './fencing-cost.js'
import { withLeaseVariants, type BenchTarget } from './targets.js'
import { printRetryCost, withRetryVariants, type RecordingConnection } from './retry-variants.js'
import { envInt, first, fmt, interleaved, load, median, printTable, ratio, ratioWithSpread, ratioGoal } from './util.js'

/**
 * The 1:1 traffic workload: two devices, both on the store under test, exchange messages in
 * alternating directions; each message is an encrypt and a decrypt through Baileys' Signal
 * repository, each a transaction that reads and writes the session. Returns msg/s. `relayed`:
 * each send in Baileys' relayMessage order (keys committed after the stanza left).
 */
export async function oneToOne(target: BenchTarget, messages: number, options: { relayed?: boolean } = {}): Promise<number> {
  return (await oneToOneRun(target, messages, options)).msgPerSecond
}

/** oneToOne with the CPU time per message over the same window (cpu-meter.ts): a cost the machine's load barely moves. */
export async function oneToOneRun(
  target: BenchTarget,
  messages: number,
  options: { relayed?: boolean } = {}
): Promise<{ msgPerSecond: number; cpu: CpuPerMessage }> {
  const backend: RecordingConnection & { destroy(): Promise<void> } = await target.open()
  try {
    const device = async (session: string, jid: string) => {
      const { state, saveCreds } = await backend.auth(session)
      await saveCreds()
      return new SignalDevice(jid, state, saveCreds)
    }
    const a = await device('a', '15553330001:0@s.whatsapp.net')
    const b = await device('b', '15553330002:0@s.whatsapp.net')
    const session = new Map([
      [a, 'a'],
      [b, 'b']
    ])
    await a.startSessionWith(b)
    await b.receive(a.jid, await a.send(b.jid, 'warm-up'))
    const start = process.hrtime.bigint()
    const cpu = startCpuMeter()
    for (let i = 0; i < messages; i++) {
      const [from, to] = i % 2 === 0 ? [a, b] : [b, a]
      const text = `message ${i}`
      // relayed: in Baileys' order, the keys committed after the stanza left (signal.ts asRelayed).
      const encrypt = () => (options.relayed ? asRelayed(from.keys, to.jid, () => from.send(to.jid, text)) : from.send(to.jid, text))
      // With the retry store: kept as the runtime keeps a send (retry-cost.ts).
      const sent = backend.send ? await backend.send(session.get(from)!, to.jid, text, encrypt) : await encrypt()
      if ((await to.receive(from.jid, sent)) !== text) throw new Error('decrypt mismatch')
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9
    return { msgPerSecond: messages / seconds, cpu: cpu(messages) }
  } finally {
    await backend.destroy()
  }
}

/** Targets of issues 2 and 3, as a ratio to the plain in-memory ceiling. */
const TARGETS: Record<string, number> = {
  'baileys-vault file: (default)': 0.6,
  'baileys-vault sqlite: (default)': 0.9,
  'baileys-vault sqlite: encrypted': 0.85,
  'baileys-vault postgres://': 0.8,
  'baileys-vault redis://': 0.85
}

export async function runOneToOne(targets: BenchTarget[]): Promise<void> {
  targets = withRetryVariants(withLeaseVariants(targets)) // issues 14 and 21: fencing and the retry store, in the same rounds
  const rounds = envInt('BENCH_ROUNDS', 5)
  const messages = envInt('BENCH_MESSAGES', 400)
  console.log(`## 1:1 traffic — ${messages} messages (encrypt + decrypt each, both devices on the store), median of ${rounds} interleaved rounds\n`)
  const loadAtStart = load()
  const cpu = new Map<string, number[]>(targets.map(t => [t.name, []]))
  const results = await interleaved(targets, rounds, async t => {
    const run = await oneToOneRun(t, messages)
    cpu.get(t.name)!.push(run.cpu.process / 1000) // ms per message
    return run.msgPerSecond
  })
  const loadAtEnd = load()
  // The bound's commit latency, measured in this run, on the same disk and servers.
  const commitMs = await interleaved(targets.filter(isDurable), rounds, commitLatencyMs)
  const ceiling = median(results.get(first(targets, 'target').name)!)
  printTable(
    ['store', 'msg/s', 'vs in-memory', 'target', 'commit ms', 'bound msg/s', 'vs bound', 'durability'],
    targets.map(t => {
      const m = median(results.get(t.name)!)
      const goal = TARGETS[t.name]
      const commit = commitMs.has(t.name) ? median(commitMs.get(t.name)!) : NaN
      const bound = boundMsgPerSecond(ceiling, commit)
      return [t.name, fmt(m), ratio(m, ceiling), ratioGoal(goal, m / ceiling), fmt(commit, 2), fmt(bound), ratio(m, bound), t.durability]
    })
  )
  console.log(
    "(bound: the plain Map's time per message plus two durable commits, each the mean of a loop of single ~6 KB writes through the store; a single conversation cannot beat it)\n"
  )
  printCpu(targets, results, cpu, `load average ${loadAtStart} at start, ${loadAtEnd} at end`)
  printFencingCost(targets, results)
  printRetryCost(targets, results)
}

/**
 * CPU time per message beside wall time (issue 26): on a loaded machine a round's wall time
 * swings with what else runs, its CPU time much less. Ratios of medians to the plain Map of the
 * same run, with the range of the per-round ratios.
 */
export function printCpu(targets: BenchTarget[], msgPerSecond: Map<string, number[]>, cpuMsPerMessage: Map<string, number[]>, loadNote: string): void {
  const base = first(targets, 'target').name
  printTable(
    ['store', 'CPU µs/msg', 'CPU vs in-memory', 'CPU range over rounds', 'wall vs in-memory', 'wall range over rounds'],
    targets.map(t => {
      const cpu = ratioWithSpread(cpuMsPerMessage.get(t.name)!, cpuMsPerMessage.get(base)!, false)
      const wall = ratioWithSpread(msgPerSecond.get(t.name)!, msgPerSecond.get(base)!, true)
      return [t.name, fmt(median(cpuMsPerMessage.get(t.name)!) * 1000), cpu.ratio, cpu.spread, wall.ratio, wall.spread]
    })
  )
  console.log(
    `(CPU: this process's user + system time over the timed messages, all threads, which leaves out waits (fsync, servers' own CPU); "vs in-memory": the plain Map's median / the store's; ranges: the same ratio per interleaved round; ${loadNote})\n`
  )
}
