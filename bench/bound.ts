import { randomBytes } from 'node:crypto'
import type { BenchTarget } from './targets.js'
import { envInt, now } from './util.js'

/**
 * The physical bound of 1:1 traffic (issue 15): each message is an encrypt and a decrypt, each
 * its own Baileys transaction, so two durable commits strictly one after the other. A single
 * conversation cannot go faster than the crypto time plus two commits per message.
 */

/** Stores whose writes are durable commits (the plain Map, Baileys' folder and `memory:` are not). */
export const isDurable = (target: BenchTarget) => !['plain', 'baileys', 'memory'].includes(target.kind)

/**
 * Mean latency (ms) of one durable write of a single new ~6 KB value (a Signal session's size,
 * 4-11 KB) through the target's store, in a loop: a single-row upsert and its flush on SQLite,
 * one write round trip on PostgreSQL and Redis, the file journal on `file:`.
 */
export async function commitLatencyMs(target: BenchTarget): Promise<number> {
  const commits = envInt('BENCH_BOUND_COMMITS', 200)
  const backend = await target.open()
  try {
    if (!backend.store) throw new Error(`${target.name}: no store to measure a commit on`)
    // A fresh value per write, as a conversation's sessions change with every message: this disk
    // flushes a rewrite of identical bytes almost for free (~0.02 ms against 0.2-0.5 ms for new
    // bytes, measured with a bare better-sqlite3 FULL loop), which made an earlier bound too loose.
    const values = Array.from({ length: commits }, () => randomBytes(6 * 1024))
    // The mean, not the median: a conversation pays every commit, the rare slow ones (checkpoints) too.
    const start = now()
    for (const [i, value] of values.entries()) await backend.store.writeRaw('bound', { set: [['session', `peer${i % 8}.0`, value]], del: [] })
    return (now() - start) / commits
  } finally {
    await backend.destroy()
  }
}

/** msg/s of the bound: crypto time per message (the plain Map's) plus two commits. */
export const boundMsgPerSecond = (cryptoMsgPerSecond: number, commitMs: number) => 1000 / (1000 / cryptoMsgPerSecond + 2 * commitMs)
