import { cpus, totalmem } from 'node:os'
import { oneToOne } from './one-to-one.js'
import { allTargets } from './targets.js'

/**
 * `npm run bench`: each workload against every target in one process, rounds interleaved so
 * machine noise hits all targets alike; the median of the rounds and its ratio to the plain
 * in-memory ceiling of the same run. Numbers, not assertions.
 */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 400)

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

async function main() {
  const targets = allTargets()
  console.log(`baileys-vault bench — node ${process.version}, ${cpus().length}x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB`)
  console.log(`workload: 1:1 traffic, ${MESSAGES} messages (encrypt + decrypt each, both devices on the store), median of ${ROUNDS} rounds\n`)
  const results = new Map<string, number[]>(targets.map(t => [t.name, []]))
  for (let round = 0; round < ROUNDS; round++) {
    for (const target of targets) results.get(target.name)!.push(await oneToOne(target, MESSAGES))
  }
  const ceiling = median(results.get(targets[0].name)!)
  const rows = targets.map(t => {
    const m = median(results.get(t.name)!)
    return [t.name, m.toFixed(0), `${(m / ceiling).toFixed(2)}x`, t.durability]
  })
  printTable(['store', 'msg/s', 'vs in-memory', 'durability'], rows)
}

function printTable(header: string[], rows: string[][]) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => r[i].length)))
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`
  console.log(line(header))
  console.log(`|${widths.map(w => '-'.repeat(w + 2)).join('|')}|`)
  for (const r of rows) console.log(line(r))
}

await main()
