import type { AuthenticationState } from '@whiskeysockets/baileys'
import { account, quietly } from './many-accounts.js'
import { buildBurst, seedAccount, type Burst } from './receive.js'
import { startCpuMeter, type CpuPerMessage } from './cpu-meter.js'
import { asRelayed, signalOf } from './signal.js'
import { printFencingCost } from './fencing-cost.js'
import { withLeaseVariants, type BenchTarget } from './targets.js'
import { printRetryCost, withRetryVariants, type RecordingConnection } from './retry-variants.js'
import { envInt, fmt, interleaved, median, percentile, printTable, ratio, first, ratioGoal } from './util.js'

/**
 * Gateway (issue 15): K accounts in one process on the store under test, as WAHA or Evolution
 * API run them. Each account has a contact (a plain in-memory peer) with M queued messages;
 * all accounts work at once, each serially (Baileys' per-socket message mutex): decrypt a
 * message, encrypt a reply, next. Every decrypt and encrypt is its own Baileys transaction,
 * so its own commit. Aggregate msg/s, plus the latency of each keys.set as Baileys sees it
 * (queueing and commit): this is where many sessions' writes can share one commit.
 */
interface GatewayRun {
  msgPerSecond: number
  writeMs: number[]
  /** CPU time per message over the timed window (cpu-meter.ts). */
  cpu: CpuPerMessage
}

/** The account's keys with every keys.set timed (what a Baileys commit waits for). */
function timedKeys(keys: AuthenticationState['keys'], writeMs: number[]): AuthenticationState['keys'] {
  return {
    get: (type, ids) => keys.get(type, ids),
    async set(data) {
      const start = performance.now()
      await keys.set(data)
      writeMs.push(performance.now() - start)
    }
  }
}

export async function gateway(target: BenchTarget, bursts: Burst[], options: { relayed?: boolean } = {}): Promise<GatewayRun> {
  const backend = await target.create()
  try {
    let conn = await backend.connect()
    for (const [i, burst] of bursts.entries()) await seedAccount(conn, account(i), burst)
    await conn.close()
    // Reopened: a cold read cache, as after the gateway restarts and its queues arrive.
    const live: RecordingConnection = (conn = await backend.connect())
    const writeMs: number[] = []
    const accounts = []
    for (const [i, burst] of bursts.entries()) {
      const { state } = await conn.auth(account(i))
      accounts.push({ session: account(i), burst, ...signalOf({ creds: state.creds, keys: timedKeys(state.keys, writeMs) }) })
    }
    const start = performance.now()
    const cpu = startCpuMeter()
    await Promise.all(
      accounts.map(async ({ session, burst, repo, keys }) => {
        for (const m of burst.queue) {
          const plain = await repo.decryptMessage({ jid: m.jid, type: m.type, ciphertext: m.ciphertext })
          if (Buffer.from(plain).toString() !== m.text) throw new Error(`${target.name}: decrypt mismatch`)
          const encryptNow = () => repo.encryptMessage({ jid: m.jid, data: Buffer.from(`re: ${m.text}`) })
          // relayed: in Baileys' order, the keys committed after the stanza left (signal.ts asRelayed).
          const encrypt = () => (options.relayed ? asRelayed(keys, m.jid, encryptNow) : encryptNow())
          // With the retry store: kept as the runtime keeps a send (retry-cost.ts).
          await (live.send ? live.send(session, m.jid, `re: ${m.text}`, encrypt) : encrypt())
        }
      })
    )
    const seconds = (performance.now() - start) / 1000
    const messages = bursts.reduce((n, b) => n + b.queue.length, 0)
    const cpuPerMessage = cpu(messages)
    await conn.close()
    return { msgPerSecond: messages / seconds, writeMs, cpu: cpuPerMessage }
  } finally {
    await backend.destroy()
  }
}

/** One burst of `messages` per account, each from a contact of its own. */
export const gatewayBursts = (accounts: number, messages: number): Promise<Burst[]> =>
  quietly(async () => {
    const built: Burst[] = []
    // A contact of its own per account: libsignal serialises all work on one peer address
    // process-wide, so a shared contact would make the accounts take turns.
    for (let i = 0; i < accounts; i++) built.push(await buildBurst(1, messages, i))
    return built
  })

/** Issue 15's targets, as a ratio to the plain Map of the same run. */
const TARGETS: Record<string, number> = {
  'baileys-vault sqlite: (default)': 0.9,
  'baileys-vault redis://': 0.9,
  'baileys-vault postgres://': 0.85,
  'baileys-vault file: (default)': 0.7
}

export async function runGateway(targets: BenchTarget[]): Promise<void> {
  targets = withRetryVariants(withLeaseVariants(targets)) // issues 14 and 21: fencing and the retry store, in the same rounds
  const accounts = envInt('BENCH_GATEWAY_ACCOUNTS', 40)
  const messages = envInt('BENCH_GATEWAY_MESSAGES', 25)
  const rounds = envInt('BENCH_GATEWAY_ROUNDS', 3)
  console.log(
    `## Gateway — ${accounts} accounts at once, each decrypting ${messages} queued messages from its contact and encrypting a reply to each (serially per account), median of ${rounds} interleaved rounds\n`
  )
  const bursts = await gatewayBursts(accounts, messages)
  const writeMs = new Map<string, number[]>(targets.map(t => [t.name, []]))
  const results = await interleaved(targets, rounds, async t => {
    const run = await gateway(t, bursts)
    writeMs.get(t.name)!.push(...run.writeMs)
    return run.msgPerSecond
  })
  const ceiling = median(results.get(first(targets, 'target').name)!)
  printTable(
    ['store', 'msg/s', 'vs in-memory', 'target', 'write p50 ms', 'write p99 ms', 'durability'],
    targets.map(t => {
      const m = median(results.get(t.name)!)
      const goal = TARGETS[t.name]
      const ms = writeMs.get(t.name)!
      return [t.name, fmt(m), ratio(m, ceiling), ratioGoal(goal, m / ceiling), fmt(percentile(ms, 50), 2), fmt(percentile(ms, 99), 2), t.durability]
    })
  )
  console.log(`(write latency: each keys.set of a Baileys transaction commit, queueing included, over all rounds)\n`)
  printFencingCost(targets, results, writeMs)
  printRetryCost(targets, results)
}
