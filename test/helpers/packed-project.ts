/**
 * What the tarball tests (test/package/tarball*.servers.test.ts) share once the packed package is
 * installed into a new project: the environment a child npm gets, a child process in the project
 * that a test waits on by its output, and the README quick start run against a simulator.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startSimulator } from '../../src/sim/index.js'

/** This process's environment without npm's own npm_* settings (prefix, scripts, …), which a child npm must not inherit from `npm test`. */
export function envWithoutNpm(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)))
}

export interface ProjectChild {
  exited: Promise<number | null>
  /** Resolves with the first match of `pattern` in the output so far or to come; fails if the child ends first. */
  waitFor(pattern: RegExp): Promise<RegExpExecArray>
  kill(signal: NodeJS.Signals): void
  /** The output's last 4,000 characters, for an assertion's message. */
  output(): string
}

/** Starts `command` in `project` (stdout and stderr kept together); it is SIGKILLed if it outlives `limitMs`. */
export function spawnInProject(options: {
  project: string
  env: NodeJS.ProcessEnv
  command: string
  args: string[]
  /** Names the child in messages. */
  label: string
  limitMs?: number
}): ProjectChild {
  const { label } = options
  const child = spawn(options.command, options.args, { cwd: options.project, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const waiters: Array<() => void> = []
  const onData = (chunk: Buffer) => {
    out += chunk.toString()
    waiters.splice(0).forEach(w => w())
  }
  child.stdout.on('data', onData)
  child.stderr.on('data', onData)
  const killer = setTimeout(() => child.kill('SIGKILL'), options.limitMs ?? 90_000)
  const exited = new Promise<number | null>(resolve =>
    child.on('exit', code => {
      clearTimeout(killer)
      waiters.splice(0).forEach(w => w())
      resolve(code)
    })
  )
  const waitFor = async (pattern: RegExp): Promise<RegExpExecArray> => {
    for (;;) {
      const found = pattern.exec(out)
      if (found) return found
      if (child.exitCode !== null || child.signalCode !== null) assert.fail(`${label} ended before printing ${pattern}:\n${out.slice(-4000)}`)
      await new Promise<void>(resolve => waiters.push(resolve))
    }
  }
  return { exited, waitFor, kill: signal => void child.kill(signal), output: () => `${label} output:\n${out.slice(-4000)}` }
}

/**
 * Runs the README quick start in `project` against a simulator until it shows the QR code, then
 * stops the simulator and expects the quick start to exit 0. The quick start connects to
 * WhatsApp; a preload points Baileys' defaults (imported as `baileysPackage`) at the simulator,
 * so the README text runs unchanged. `start` runs the quick start with the node arguments and
 * environment given.
 */
export async function assertQuickStartShowsQr(options: {
  project: string
  baileysPackage: string
  start(nodeArgs: string[], extraEnv: NodeJS.ProcessEnv): ProjectChild
}): Promise<void> {
  const sim = await startSimulator()
  writeFileSync(
    join(options.project, 'point-at-simulator.mjs'),
    [
      `import { DEFAULT_CONNECTION_CONFIG, WA_CERT_DETAILS } from '${options.baileysPackage}'`,
      'DEFAULT_CONNECTION_CONFIG.waWebSocketUrl = process.env.SIM_URL',
      "WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(process.env.SIM_ROOT_KEY, 'hex')"
    ].join('\n')
  )
  try {
    const child = options.start(['--import', './point-at-simulator.mjs'], { SIM_URL: sim.url, SIM_ROOT_KEY: sim.rootPublicKey.toString('hex') })
    await child.waitFor(/[▄▀█]{10}/)
    await sim.stop()
    assert.equal(await child.exited, 0, child.output())
  } finally {
    await sim.stop()
  }
}
