import { execFileSync } from 'node:child_process'
import { cpus, totalmem } from 'node:os'
import { runBulk } from './bulk.js'
import { runGateway } from './gateway.js'
import { runGroup } from './group.js'
import { runHandoff, runMassStart } from './handoff.js'
import { runLogin } from './login.js'
import { runManyAccounts } from './many-accounts.js'
import { runOneToOne } from './one-to-one.js'
import { runReceive } from './receive.js'
import { runRetryCost, runRetryTrips } from './retry-cost.js'
import { runRuntime } from './runtime.js'
import { allTargets, peersNote, serversNote } from './targets.js'
import { load } from './util.js'

/**
 * `npm run bench [-- workload…]`: each workload against every target in one process, rounds
 * interleaved so machine noise hits all targets alike; medians, and ratios to the plain
 * in-memory ceiling of the same run. Numbers, not assertions.
 *
 * Workloads: one-to-one, group, login, receive, many-accounts, bulk, gateway, runtime, handoff, mass-start, retry-cost, retry-trips (default: all but the retry-* ones). Choose with
 * arguments or BENCH_WORKLOADS=group,login. Sizes: BENCH_* env variables (see each file).
 * `npm run bench` starts throwaway PostgreSQL and Redis servers (scripts/with-test-servers.sh);
 * `node build/bench/run.js` alone benches the embedded stores only.
 */
type Workload = (targets: ReturnType<typeof allTargets>) => Promise<void>
const WORKLOADS: Record<string, Workload> = {
  'one-to-one': runOneToOne,
  group: runGroup,
  login: runLogin,
  receive: runReceive,
  'many-accounts': runManyAccounts,
  bulk: runBulk,
  gateway: runGateway,
  runtime: runRuntime,
  'retry-cost': runRetryCost,
  'retry-trips': runRetryTrips,
  handoff: runHandoff,
  'mass-start': runMassStart
}

function chosen(): Array<[string, Workload]> {
  const fromArgs = process.argv.slice(2).filter(a => !a.startsWith('-'))
  const fromEnv = (process.env.BENCH_WORKLOADS ?? '')
    .split(',')
    .map(s => s.trim())
    .filter(Boolean)
  // retry-cost and retry-trips repeat pairs the 1:1 and gateway tables already hold: run on demand only.
  const names = fromArgs.length ? fromArgs : fromEnv.length ? fromEnv : Object.keys(WORKLOADS).filter(n => !n.startsWith('retry-'))
  return names.map(n => {
    const workload = WORKLOADS[n]
    if (!workload) throw new Error(`unknown workload "${n}"; choose from ${Object.keys(WORKLOADS).join(', ')}`)
    return [n, workload]
  })
}

function disk(): string {
  try {
    return execFileSync('sh', ['-c', `df -T "${process.env.TMPDIR ?? '/tmp'}" | tail -1 | awk '{print $1" "$2}'`])
      .toString()
      .trim()
  } catch {
    return 'unknown'
  }
}

async function main() {
  const workloads = chosen()
  const targets = allTargets()
  const started = Date.now()
  console.log(
    `# baileys-vault bench — node ${process.version}, ${cpus().length}x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, temp disk ${disk()}`
  )
  console.log(`workloads: ${workloads.map(([name]) => name).join(', ')}; ${serversNote()}; load average at start ${load()}`)
  console.log(`${peersNote()}\n`)
  for (const [name, workload] of workloads) {
    const t0 = Date.now()
    await workload(targets)
    console.log(`(${name}: ${((Date.now() - t0) / 1000).toFixed(0)} s, load average ${load()})\n`)
  }
  console.log(`total ${((Date.now() - started) / 60000).toFixed(1)} min`)
}

await main()
