/**
 * The simulator a test file (or a describe block) shares: started in a `before` hook, trusted by
 * this process's Baileys, stopped in an `after` hook.
 *
 *   const sim = useSimulator()
 *   test('…', async () => { await pair(sim, auth) })
 *
 * The returned object stands for the simulator `before` starts, so tests use it as they would
 * the simulator itself; touching it outside a test or a later hook fails loudly.
 *
 * node:test runs hooks in the order they were registered: a `before` registered after this call
 * can use the simulator, and an `after` that must run while it still listens (ending clients,
 * killing children) is registered before this call.
 */
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before } from 'node:test'
import { startSimulator, trustSimulator, type Simulator, type SimulatorOptions } from '../../src/sim/index.js'

export interface UseSimulatorOptions {
  /** What startSimulator gets, e.g. `{ tls: true }`. */
  start?: SimulatorOptions
  /**
   * Make this process's Baileys trust the simulator (trustSimulator). Default true; files whose
   * clients all run in child processes (which trust it themselves) pass false.
   */
  trust?: boolean
}

export function useSimulator(options: UseSimulatorOptions = {}): Simulator {
  let started: Simulator | undefined
  let untrust: (() => void) | undefined

  before(async () => {
    started = await startSimulator(options.start)
    if (options.trust ?? true) untrust = trustSimulator(started)
  })

  after(async () => {
    untrust?.()
    await started?.stop()
  })

  const current = (): Simulator => started ?? assert.fail('useSimulator: the simulator starts in before(); use it in a test or a later hook')
  return new Proxy({} as Simulator, {
    get: (_, name) => Reflect.get(current(), name),
    set: (_, name, value) => Reflect.set(current(), name, value)
  })
}

export interface SimulatorForChildren {
  /** The simulator; this process does not trust it, the children do (they get its root key). */
  readonly sim: Simulator
  /** Child processes a test started: SIGKILLed after the tests, before the simulator stops. */
  readonly children: ChildProcess[]
  /** A temporary folder for the children's stores, removed after the tests. */
  readonly dir: string
}

/** A simulator for tests whose clients run in child processes, with their folder and their clean-up. */
export function useSimulatorForChildren(options: { tmpPrefix: string }): SimulatorForChildren {
  let dir: string | undefined
  const children: ChildProcess[] = []
  after(() => children.forEach(c => c.kill('SIGKILL')))
  const sim = useSimulator({ trust: false })
  before(() => {
    dir = mkdtempSync(join(tmpdir(), options.tmpPrefix))
  })
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true })
  })
  return {
    sim,
    children,
    get dir() {
      return dir ?? assert.fail('useSimulatorForChildren: the folder is made in before(); use it in a test')
    }
  }
}
