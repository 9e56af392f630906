import type { AuthStore } from '../src/auth/auth-store.js'
import type { MessageStore, SendingSocket } from '../src/store/message-store.js'
import fs from 'node:fs'
import { syncBuiltinESMExports } from 'node:module'
import { releaseAsyncStorages } from './async-storages.js'
import { gateway, gatewayBursts } from './gateway.js'
import { oneToOne, oneToOneRun } from './one-to-one.js'
import type { CpuPerMessage } from './cpu-meter.js'
import { withOpen, type BenchConnection, type BenchTarget } from './targets.js'
import { envInt, fmt, load, median, printTable, uniqueId } from './util.js'
import { must } from '../src/core/defined.js'

/**
 * The cost of the retry store (issue 21): each measured target against its "+ retry store" copy
 * in the same interleaved rounds. The copy keeps every sent message as the runtime does: each
 * encrypt runs inside a relayMessage wrapped by the retry store's record() (RecordingConnection). Target: within 5% of msg/s.
 */
export const RETRY_BUDGET = 0.05
const MEASURED = new Set(['baileys-vault sqlite: (default)', 'baileys-vault postgres://', 'baileys-vault redis://'])
const SUFFIX = ' + retry store'

/**
 * A connection that keeps sent messages: `send(session, jid, text, encrypt)` runs `encrypt` as
 * the relayMessage of a socket wrapped by the retry store's record(): the record starts, then
 * the encrypt, and the send resolves once both are done (the runtime's path, joinNext included).
 */
export type RecordingConnection = BenchConnection & {
  send?: <T>(session: string, jid: string, text: string, encrypt: () => Promise<T>) => Promise<T>
}

function withRetryStore(target: BenchTarget): BenchTarget {
  return withOpen({
    name: `${target.name}${SUFFIX}`,
    kind: target.kind,
    durability: `${target.durability}; sent messages kept in the retry store`,
    async create() {
      const backend = await target.create()
      return {
        ...backend,
        async connect(options) {
          const conn = await backend.connect(options)
          const stores = new Map<string, Promise<MessageStore>>()
          const messagesOf = (session: string) => {
            let m = stores.get(session)
            if (!m) stores.set(session, (m = (conn.store as AuthStore).useMessageStore(session)))
            return m
          }
          const recording: RecordingConnection = {
            ...conn,
            async send(session, jid, text, encrypt) {
              let out: Awaited<ReturnType<typeof encrypt>> | undefined
              const sock: SendingSocket = {
                sendMessage: async () => undefined,
                relayMessage: async () => {
                  out = await encrypt()
                  return ''
                }
              }
              ;(await messagesOf(session)).record(sock)
              await sock.relayMessage(jid, { conversation: text }, { messageId: uniqueId() })
              return out!
            }
          }
          return recording
        }
      }
    }
  })
}

/** `targets` with each measured target followed by its "+ retry store" copy. */
export const withRetryVariants = (targets: BenchTarget[]): BenchTarget[] => targets.flatMap(t => (MEASURED.has(t.name) ? [t, withRetryStore(t)] : [t]))

/**
 * The cost table: per store, 1 - on/off of msg/s per round (wall), and, when `cpu` is given,
 * on/off - 1 of CPU time per message per round: of the bench process, and of the process plus
 * the PostgreSQL/Redis server beside it (cpu-meter.ts). Medians of the rounds, with their range.
 * On a loaded machine the wall figure moves with other processes; the CPU figure far less.
 */
export function printRetryCost(targets: BenchTarget[], msgPerSecond: Map<string, number[]>, cpu?: Map<string, CpuPerMessage[]>): void {
  const pairs = targets.flatMap(t => {
    const on = targets.find(o => o.name === `${t.name}${SUFFIX}`)
    return on ? [{ off: t, on }] : []
  })
  if (pairs.length === 0) return
  const percent = (share: number) => `${(share * 100).toFixed(1)}%`
  const summary = (costs: number[]) => ({ median: median(costs), range: `${percent(Math.min(...costs))} .. ${percent(Math.max(...costs))}` })
  const verdict = (cost: number) => `${cost <= RETRY_BUDGET ? 'met' : 'NOT met'}`
  const rows = pairs.map(({ off, on }) => {
    const without = msgPerSecond.get(off.name)!
    const withStore = msgPerSecond.get(on.name)!
    const wall = summary(without.map((w, round) => 1 - must(withStore[round], 'interleaved runs both targets the same rounds') / w))
    const row = [off.name, fmt(median(without)), fmt(median(withStore)), percent(wall.median), wall.range, `${verdict(wall.median)}`]
    if (!cpu) return row
    const cpuOff = cpu.get(off.name)!
    const cpuOn = cpu.get(on.name)!
    const onIn = (round: number) => must(cpuOn[round], 'interleaved runs both targets the same rounds')
    const own = summary(cpuOff.map((c, round) => onIn(round).process / c.process - 1))
    const total = (c: CpuPerMessage) => c.process + c.server
    const withServer = summary(cpuOff.map((c, round) => total(onIn(round)) / total(c) - 1))
    return [
      ...row,
      `${fmt(median(cpuOff.map(c => c.process)))} / ${fmt(median(cpuOn.map(c => c.process)))}`,
      percent(own.median),
      own.range,
      `${fmt(median(cpuOff.map(total)))} / ${fmt(median(cpuOn.map(total)))}`,
      percent(withServer.median),
      withServer.range,
      verdict(Math.max(own.median, withServer.median))
    ]
  })
  const header = ['store', 'msg/s off', 'msg/s on', 'wall cost', 'wall range', `wall <= ${RETRY_BUDGET * 100}%`]
  const cpuHeader = [
    'CPU µs/msg off / on',
    'CPU cost',
    'CPU range',
    '+ server µs/msg off / on',
    '+ server cost',
    '+ server range',
    `CPU <= ${RETRY_BUDGET * 100}%`
  ]
  printTable(cpu ? [...header, ...cpuHeader] : header, rows)
  console.log(
    '(costs are medians of per-round ratios of interleaved rounds; "CPU": user + system time of the bench process per message; "+ server": with the PostgreSQL/Redis server processes, which share the cores; the "+ retry store" copy runs each encrypt inside a relayMessage wrapped by the retry store\'s record(), as the runtime does)\n'
  )
}

/**
 * `npm run bench -- retry-cost`: only the measured stores, each with and without the retry
 * store, in the 1:1 and gateway workloads (the same sizes as those workloads). Each round runs
 * every pair back to back, in alternating order (off first in even rounds, on first in odd
 * ones), so drift and warm-up hit both alike; the cost is the median of the per-round ratios.
 * Every send runs in Baileys' relayMessage order (signal.ts asRelayed): the record starts, the
 * message is encrypted, the stanza leaves, then the keys commit; the send awaits the record last.
 */
export async function runRetryCost(targets: BenchTarget[]): Promise<void> {
  const pairs = targets.filter(t => MEASURED.has(t.name)).map(off => ({ off, on: withRetryStore(off) }))
  const listed = pairs.flatMap(({ off, on }) => [off, on])
  const rounds = envInt('BENCH_RETRY_ROUNDS', 6)
  const pairRounds = async (fn: (target: BenchTarget) => Promise<{ msgPerSecond: number; cpu: CpuPerMessage }>) => {
    const msgPerSecond = new Map<string, number[]>(listed.map(t => [t.name, []]))
    const cpu = new Map<string, CpuPerMessage[]>(listed.map(t => [t.name, []]))
    for (let round = 0; round < rounds; round++) {
      for (const { off, on } of pairs) {
        for (const target of round % 2 === 0 ? [off, on] : [on, off]) {
          const run = await fn(target)
          msgPerSecond.get(target.name)!.push(run.msgPerSecond)
          cpu.get(target.name)!.push(run.cpu)
          releaseAsyncStorages()
        }
      }
    }
    console.log(`(load average after the rounds: ${load()})`)
    return [listed, msgPerSecond, cpu] as const
  }
  const messages = envInt('BENCH_MESSAGES', 400)
  console.log(
    `## Retry store cost, 1:1 traffic in relayMessage order — ${messages} messages, ${rounds} rounds, pairs in alternating order (load average at start ${load()})\n`
  )
  printRetryCost(...(await pairRounds(t => oneToOneRun(t, messages, { relayed: true }))))
  await runRetryTrips(targets)
  const accounts = envInt('BENCH_GATEWAY_ACCOUNTS', 40)
  const perAccount = envInt('BENCH_GATEWAY_MESSAGES', 25)
  console.log(
    `## Retry store cost, gateway in relayMessage order — ${accounts} accounts x ${perAccount} messages, ${rounds} rounds, pairs in alternating order (load average at start ${load()})\n`
  )
  const bursts = await gatewayBursts(accounts, perAccount)
  printRetryCost(...(await pairRounds(t => gateway(t, bursts, { relayed: true }))))
}

/** `npm run bench -- retry-trips`: the counted part of retry-cost alone (load-independent). */
export async function runRetryTrips(targets: BenchTarget[]): Promise<void> {
  const pairs = targets.filter(t => MEASURED.has(t.name)).map(off => ({ off, on: withRetryStore(off) }))
  const messages = envInt('BENCH_RETRY_COUNT_MESSAGES', 200)
  console.log(`## Retry store cost, counted — round trips per 1:1 message in relayMessage order (${messages} messages, one run each)\n`)
  const rows: string[][] = []
  for (const { off, on } of pairs) {
    const perMessage = async (t: BenchTarget) => (await countingRoundTrips(() => oneToOne(t, messages, { relayed: true }))) / messages
    const without = await perMessage(off)
    const withStore = await perMessage(on)
    rows.push([off.name, without.toFixed(2), withStore.toFixed(2), (withStore - without).toFixed(2)])
  }
  printTable(['store', 'per message, retry store off', 'on', 'added by the retry store'], rows)
  console.log('(PostgreSQL: queries sent; Redis: commands sent; SQLite: WAL fdatasyncs. Counts, not times: the load does not move them)\n')
}

/**
 * Runs `fn` counting what each store waits on per commit: queries the pg client sends, commands
 * ioredis sends, fdatasyncs of SQLite's WAL. A record that rode another write's commit adds none.
 */
async function countingRoundTrips(fn: () => Promise<unknown>): Promise<number> {
  const { default: pg } = await import('pg')
  const { Redis } = await import('ioredis')
  let trips = 0
  const counted = <T extends object, K extends keyof T>(owner: T, key: K): (() => void) => {
    const original = owner[key] as (...args: unknown[]) => unknown
    owner[key] = function (this: unknown, ...args: unknown[]) {
      trips++
      return original.apply(this, args)
    } as T[K]
    return () => void (owner[key] = original as T[K])
  }
  const restores = [counted(pg.Client.prototype, 'query'), counted(Redis.prototype, 'sendCommand'), counted(fs, 'fdatasync'), counted(fs, 'fdatasyncSync')]
  syncBuiltinESMExports()
  try {
    await fn()
    return trips
  } finally {
    for (const restore of restores) restore()
    syncBuiltinESMExports()
  }
}
