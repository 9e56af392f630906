/**
 * `npm test`: every test file in build/test, run by a few workers at once. Each worker has its
 * own throwaway PostgreSQL, Redis and MariaDB (scripts/with-test-servers.sh), so a suite that
 * stops its servers (the outage tests) never disturbs another worker's; each file still runs
 * alone in its own `node --test` process, as before. Slow files start first. A file's output is
 * printed whole when it ends (never interleaved), then a summary; exit 1 if any file failed.
 *
 * Test files live in folders by behaviour under test/ (ARCHITECTURE.md). A file that needs a test
 * server (PostgreSQL, Redis, MariaDB) or the npm registry is named `*.servers.test.ts`; every
 * other file needs nothing but Node and this checkout (child processes and the simulator on
 * loopback are fine), and `--unit` runs exactly those, without starting any server.
 *
 *   VAULT_TEST_WORKERS=1 npm test      one worker: the old serial run
 *   node build/scripts/run-tests.js build/test/leases/leases.servers.test.js …   only these files
 *   node build/scripts/run-tests.js --unit     every file that needs no server (`npm run test:unit`)
 *   node build/scripts/run-tests.js --list     the files in the order they would start, nothing run
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..')
const WORKER = join(ROOT, 'build', 'scripts', 'test-worker.js')
const TESTS = join(ROOT, 'build', 'test')

/** Files known to take a minute or more (paths under test/, without `.test.ts`): started first, so no worker ends the run alone on one. */
const SLOW_FIRST = [
  'package/tarball.servers',
  'leases/many-standbys.servers',
  'drivers/postgres.servers',
  'drivers/file',
  'drivers/redis.servers',
  'runtime/soak.servers',
  'sim/crash-windows',
  'leases/fleet-rebalance.servers',
  'runtime/store-outage.servers',
  'package/tarball-baileys-name.servers',
  'store/crash-sigkill',
  'leases/one-owner-per-account.servers',
  'store/encryption',
  'cli/tools-vs-live-run.servers',
  'runtime/mass-start',
  'store/group-commit-file',
  'cli/run-e2e.servers',
  'runtime/control-api',
  'leases/handoff-default-ttl.servers',
  'store/group-commit',
  'retry-store/served-after-restart.servers'
]

export interface FileResult {
  file: string
  code: number
  seconds: number
  output: string
}

/** The file needs a test server or the npm registry: its name says so (see the top of this file). */
export const needsServers = (file: string) => file.endsWith('.servers.test.js')

/** Every test file under build/test, at any depth, slow ones first. */
function testFiles(): string[] {
  const files = readdirSync(TESTS, { recursive: true, encoding: 'utf8' })
    .filter(name => name.endsWith('.test.js'))
    .map(name => join(TESTS, name))
  const rank = (file: string) => {
    const i = SLOW_FIRST.indexOf(relative(TESTS, file).replace(/\.test\.js$/, ''))
    return i === -1 ? SLOW_FIRST.length : i
  }
  return files.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
}

/** Counts from the spec reporter's closing lines ("ℹ pass 12"). */
function counts(output: string): Record<'tests' | 'pass' | 'fail' | 'cancelled' | 'skipped' | 'todo', number> {
  const read = (name: string) => Number(new RegExp(`^ℹ ${name} (\\d+)$`, 'm').exec(output)?.[1] ?? 0)
  return { tests: read('tests'), pass: read('pass'), fail: read('fail'), cancelled: read('cancelled'), skipped: read('skipped'), todo: read('todo') }
}

async function main(): Promise<number> {
  const args = process.argv.slice(2)
  const unit = args.includes('--unit')
  const named = args.filter(a => !a.startsWith('--')).map(f => resolve(f))
  const queue = (named.length > 0 ? named : testFiles()).filter(file => !unit || !needsServers(file))
  if (args.includes('--list')) {
    for (const file of queue) process.stdout.write(`${relative(ROOT, file)}\n`)
    process.stdout.write(`run-tests: ${queue.length} files\n`)
    return 0
  }
  const workers = Math.max(1, Math.min(Number(process.env.VAULT_TEST_WORKERS ?? 2) || 2, queue.length))
  const results: FileResult[] = []
  const children: ChildProcess[] = []
  const started = Date.now()
  const stopAll = () => children.forEach(child => child.kill('SIGTERM'))
  process.once('SIGINT', stopAll)
  process.once('SIGTERM', stopAll)
  process.stdout.write(`run-tests: ${queue.length} files, ${workers} workers, ${unit ? 'no test servers' : 'each with its own test servers'}\n`)
  // --unit: no servers, and none inherited either, so a file that needs one fails instead of passing here.
  const unitEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('VAULT_TEST_')))

  const runWorker = (n: number) =>
    new Promise<void>(done => {
      const child = unit
        ? spawn(process.execPath, [WORKER], { cwd: ROOT, env: unitEnv, stdio: ['pipe', 'pipe', 'inherit'] })
        : spawn('bash', [join(ROOT, 'scripts', 'with-test-servers.sh'), process.execPath, WORKER], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] })
      children.push(child)
      const next = () => {
        const file = queue.shift()
        if (file) child.stdin!.write(`${file}\n`)
        else child.stdin!.end()
      }
      createInterface({ input: child.stdout! }).on('line', line => {
        if (line === 'ready') return next()
        if (!line.startsWith('{')) return void process.stdout.write(`[worker ${n}] ${line}\n`)
        const result = JSON.parse(line) as FileResult
        results.push(result)
        const name = relative(ROOT, result.file)
        process.stdout.write(
          `\n===== ${name}: ${result.code === 0 ? 'passed' : `FAILED (exit ${result.code})`} in ${result.seconds.toFixed(1)} s [worker ${n}]\n${result.output}`
        )
        next()
      })
      child.on('exit', code => {
        if (code !== 0 && queue.length > 0) process.stdout.write(`[worker ${n}] exited with ${code} before the queue was done\n`)
        done()
      })
    })

  await Promise.all(Array.from({ length: workers }, (_, i) => runWorker(i + 1)))

  const total = { tests: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 }
  for (const r of results) for (const [k, v] of Object.entries(counts(r.output))) total[k as keyof typeof total] += v
  const failed = results.filter(r => r.code !== 0)
  const missing = queue.length
  process.stdout.write('\n===== durations (slowest first)\n')
  for (const r of [...results].sort((a, b) => b.seconds - a.seconds)) process.stdout.write(`${r.seconds.toFixed(1).padStart(7)} s  ${relative(ROOT, r.file)}\n`)
  process.stdout.write(
    `\nrun-tests: ${results.length} files in ${((Date.now() - started) / 1000).toFixed(0)} s; tests ${total.tests}, pass ${total.pass}, fail ${total.fail}, cancelled ${total.cancelled}, skipped ${total.skipped}, todo ${total.todo}\n`
  )
  for (const r of failed) process.stdout.write(`FAILED: ${relative(ROOT, r.file)}\n`)
  if (missing > 0) process.stdout.write(`run-tests: ${missing} files never ran (a worker could not start its servers)\n`)
  return failed.length > 0 || missing > 0 || total.fail > 0 || total.cancelled > 0 ? 1 : 0
}

process.exitCode = await main()
