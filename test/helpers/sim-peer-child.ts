/**
 * A real Baileys peer in a child process (sim-child.ts, or lease-runtime-child.ts for the
 * runtime with leases), on its own simulator account by push name: its IPC events are kept in
 * order, the simulated phone scans its first QR code, and a test waits for events, bounded.
 */
import assert from 'node:assert/strict'
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Simulator } from '../../src/sim/index.js'
import { PEER_OPEN_MS } from './sim-peers.js'

export const SIM_CHILD = fileURLToPath(new URL('./sim-child.js', import.meta.url))
export const LEASE_CHILD = fileURLToPath(new URL('./lease-runtime-child.js', import.meta.url))

export interface ChildEvent {
  type: string
  text?: string
  qr?: string
  id?: string
  state?: string
  code?: number
  reason?: string
}

export interface PeerChild {
  child: ChildProcess
  events: ChildEvent[]
  /** Resolves once an event matching `pred` arrived (also one that came before the call). */
  waitFor(pred: (e: ChildEvent) => boolean, what: string): Promise<ChildEvent>
  exited: Promise<number | null>
}

/**
 * Forks `script` with argv `[sim.url, root key, ...args]` as `pushName`'s account. `env` adds
 * to the environment (the children's VAULT_SIM_* seams).
 */
export function forkPeer(options: { sim: Simulator; script: string; args: string[]; pushName: string; env?: Record<string, string> }): PeerChild {
  const { sim } = options
  const events: ChildEvent[] = []
  const child = fork(options.script, [sim.url, sim.rootPublicKey.toString('hex'), ...options.args], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, VAULT_SIM_PUSH_NAME: options.pushName, ...options.env }
  })
  const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
  child.on('message', msg => {
    const event = msg as ChildEvent
    events.push(event)
    if (event.type === 'qr' && events.filter(e => e.type === 'qr').length === 1) void sim.phone.scan(event.qr!).catch(() => undefined)
  })
  const waitFor = async (pred: (e: ChildEvent) => boolean, what: string) => {
    const deadline = Date.now() + PEER_OPEN_MS
    for (;;) {
      const found = events.find(pred)
      if (found) return found
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; saw ${events.map(e => e.state ?? e.type).join(',')}`)
      await new Promise(r => setTimeout(r, 20))
    }
  }
  return { child, events, waitFor, exited }
}
