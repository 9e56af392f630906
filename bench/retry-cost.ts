import type { CpuPerMessage } from './cpu-meter.js'
import fs from 'node:fs'
import { syncBuiltinESMExports } from 'node:module'
import { releaseAsyncStorages } from './async-storages.js'
import { gateway, gatewayBursts } from './gateway.js'
import { oneToOne, oneToOneRun } from './one-to-one.js'
import { MEASURED, printRetryCost, withRetryStore } from './retry-variants.js'
import type { BenchTarget } from './targets.js'
import { envInt, fmt, load, median, printTable } from './util.js'

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
    const flushes = new Map<string, WalFlushes[]>(listed.map(t => [t.name, []]))
    for (let round = 0; round < rounds; round++) {
      for (const { off, on } of pairs) {
        for (const target of round % 2 === 0 ? [off, on] : [on, off]) {
          const { result: run, flushes: counted } = await countingWalFlushes(() => fn(target))
          msgPerSecond.get(target.name)!.push(run.msgPerSecond)
          cpu.get(target.name)!.push(run.cpu)
          flushes.get(target.name)!.push(counted)
          releaseAsyncStorages()
        }
      }
    }
    console.log(`(load average after the rounds: ${load()})`)
    printWalFlushes(listed, flushes)
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

/** SQLite WAL flushes JavaScript made in one run: on the event loop (a lone commit found alone a turn later) or on the thread pool. */
interface WalFlushes {
  inline: number
  pool: number
}

/**
 * Runs `fn` counting SQLite's WAL flushes made from JavaScript by where they ran (wal-sync.ts:
 * fdatasyncSync inline, fdatasync on the thread pool); a round that tips to the thread pool pays a
 * hop per flush, so a cost figure is read beside this split. A commit claimed alone carries its
 * fsync inside COMMIT (synchronous=FULL), out of this count: test/drivers/sqlite-power-cut.test.ts
 * counts those below JavaScript (one flush per recorded send).
 */
async function countingWalFlushes<T>(fn: () => Promise<T>): Promise<{ result: T; flushes: WalFlushes }> {
  const flushes: WalFlushes = { inline: 0, pool: 0 }
  const { fdatasync, fdatasyncSync } = fs
  fs.fdatasync = ((...args: Parameters<typeof fdatasync>) => {
    flushes.pool++
    return fdatasync(...args)
  }) as typeof fdatasync
  fs.fdatasyncSync = (fd: number) => {
    flushes.inline++
    return fdatasyncSync(fd)
  }
  syncBuiltinESMExports()
  try {
    return { result: await fn(), flushes }
  } finally {
    fs.fdatasync = fdatasync
    fs.fdatasyncSync = fdatasyncSync
    syncBuiltinESMExports()
  }
}

/** Per target with WAL flushes (SQLite), the share of them made inline, per round. */
function printWalFlushes(targets: BenchTarget[], flushes: Map<string, WalFlushes[]>): void {
  const rows = targets.flatMap(t => {
    const runs = flushes.get(t.name)!
    if (runs.every(r => r.inline + r.pool === 0)) return []
    return [
      [t.name, runs.map(r => `${Math.round((100 * r.inline) / Math.max(1, r.inline + r.pool))}%`).join(' '), fmt(median(runs.map(r => r.inline + r.pool)))]
    ]
  })
  if (rows.length === 0) return
  printTable(['store', 'WAL flushes inline, per round', 'flushes per run (median)'], rows)
  console.log('(the rest ran on the thread pool; a pair whose rounds differ here differs in flush mode, not only in the record)\n')
}
