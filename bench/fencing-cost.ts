import { FENCING_BUDGETS, type BenchTarget } from './targets.js'
import { fmt, median, percentile, printTable } from './util.js'
import { must } from '../src/core/defined.js'

/**
 * The cost of fencing (issue 14): each budgeted target against its "+ lease" copy of the same
 * run. Per round, the share of msg/s the leased copy lost against the plain one of that round
 * (they ran back to back, so the same machine noise); the median over rounds is the cost judged
 * against the budget. Also shown: the same share between the two medians, and between the two
 * best rounds (load on a shared machine only ever slows a round down, so the best rounds are the
 * least disturbed). `writeMs` (gateway) adds the keys.set latency of both.
 */
const percent = (share: number) => `${(share * 100).toFixed(1)}%`

export function printFencingCost(targets: BenchTarget[], msgPerSecond: Map<string, number[]>, writeMs?: Map<string, number[]>): void {
  const pairs = targets.flatMap(t => {
    const leased = targets.find(l => l.name === `${t.name} + lease`)
    return leased && FENCING_BUDGETS.has(t.name) ? [{ plain: t, leased, budget: FENCING_BUDGETS.get(t.name)! }] : []
  })
  if (pairs.length === 0) return
  const latency = (name: string) => {
    const ms = writeMs!.get(name)!
    return `${fmt(percentile(ms, 50), 2)} / ${fmt(percentile(ms, 99), 2)}`
  }
  printTable(
    [
      'store',
      'msg/s without',
      'msg/s with lease',
      'fencing cost (median of rounds)',
      'range over rounds',
      'of the medians',
      'of the best rounds',
      'budget',
      ...(writeMs ? ['write p50 / p99 ms without', 'with lease'] : [])
    ],
    pairs.map(({ plain, leased, budget }) => {
      const without = msgPerSecond.get(plain.name)!
      const withLease = msgPerSecond.get(leased.name)!
      const costs = without.map((w, round) => 1 - must(withLease[round], 'interleaved runs both targets the same rounds') / w)
      const cost = median(costs)
      return [
        plain.name,
        fmt(median(without)),
        fmt(median(withLease)),
        percent(cost),
        `${percent(Math.min(...costs))} .. ${percent(Math.max(...costs))}`,
        percent(1 - median(withLease) / median(without)),
        percent(1 - Math.max(...withLease) / Math.max(...without)),
        `<= ${budget * 100}% ${cost <= budget ? 'met' : 'NOT met'}`,
        ...(writeMs ? [latency(plain.name), latency(leased.name)] : [])
      ]
    })
  )
  console.log('(fencing cost: the share of msg/s lost with every write fenced by a lease epoch, against the same store in the same round)\n')
}
