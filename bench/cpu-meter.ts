import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

/**
 * CPU time used by the bench's PostgreSQL and Redis servers (Linux /proc; µs), so a CPU figure
 * counts the work a write makes on the server too: the servers share this machine's cores with
 * the bench. PostgreSQL is the postmaster and every process it started (backends, WAL writer);
 * Redis is its one process. Found through the state folder scripts/with-test-servers.sh exports;
 * 0 when it is not set or /proc cannot be read (then only the bench process is counted).
 */
const TICKS_PER_SECOND = 100 // USER_HZ: 100 on every Linux the bench runs on (getconf CLK_TCK)

/** utime + stime of one process (µs), and its parent pid. */
function processCpu(pid: number): { micros: number; ppid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const ticks = Number(fields[11]) + Number(fields[12]) // utime, stime (fields 14, 15 of the line)
    return { micros: (ticks * 1e6) / TICKS_PER_SECOND, ppid: Number(fields[1]) }
  } catch {
    return undefined
  }
}

const pidIn = (file: string): number | undefined => {
  try {
    const pid = parseInt(readFileSync(file, 'utf8'), 10) // the first line: parseInt stops at its end
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

/** CPU µs used so far by the test servers' processes (see above). */
function serverCpuMicros(): number {
  const state = process.env.VAULT_TEST_SERVERS_STATE
  if (!state) return 0
  let total = 0
  const redis = pidIn(join(state, 'redis', 'redis.pid'))
  if (redis) total += processCpu(redis)?.micros ?? 0
  const postmaster = pidIn(join(state, 'pg', 'data', 'postmaster.pid'))
  if (postmaster) {
    for (const name of readdirSync('/proc')) {
      const pid = Number(name)
      const cpu = Number.isInteger(pid) ? processCpu(pid) : undefined
      if (cpu && (pid === postmaster || cpu.ppid === postmaster)) total += cpu.micros
    }
  }
  return total
}

/** CPU time per message of a measured window (µs): the bench process, and the test servers beside it. */
export interface CpuPerMessage {
  process: number
  server: number
}

/** Starts measuring CPU time; the returned function gives what was used since, per message. */
export function startCpuMeter(): (messages: number) => CpuPerMessage {
  const processStart = process.cpuUsage()
  const serverStart = serverCpuMicros()
  return messages => {
    const used = process.cpuUsage(processStart)
    return { process: (used.user + used.system) / messages, server: (serverCpuMicros() - serverStart) / messages }
  }
}
