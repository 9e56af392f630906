/**
 * SIGTERM in the middle of traffic, in a real child process running the runtime with signal
 * handling on; then a restart from the store. The next message in both directions decrypts,
 * no QR is shown, and every store write the child saw acknowledged is in the store.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { fork } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { openStore } from '../../src/open-store.js'
import { rawDriver } from '../helpers/raw-driver.js'
import { useSimulatorForChildren } from '../helpers/use-simulator.js'
import { childEvents } from '../helpers/child-events.js'

const CHILD = fileURLToPath(new URL('../helpers/runtime-child.js', import.meta.url))

interface ChildEvent {
  type: string
  text?: string
  qr?: string
  state?: string
  code?: number
  creds?: string
  keys?: Array<[string, string, string | null]>
  stats?: { creds: { saves: number; writes: number; coalesced: number } }
}

const fleet = useSimulatorForChildren({ tmpPrefix: 'vault-runtime-sigterm-' })
const { sim, children } = fleet

function startChild(storeUrl: string, onEvent: (e: ChildEvent) => void) {
  const child = fork(CHILD, [sim.url, sim.rootPublicKey.toString('hex'), storeUrl, 'main'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  children.push(child)
  const { events, exited, waitFor } = childEvents<ChildEvent>(child, { timeoutMs: 15_000, onEvent })
  return { child, events, exited, waitFor }
}

const sha = (bytes: Uint8Array | undefined) => (bytes ? createHash('sha256').update(bytes).digest('hex') : null)

test(
  'SIGTERM mid-traffic: graceful stop (exit 0, no logout), restart without QR, the next message decrypts both ways, no acknowledged write lost',
  { timeout: 60_000 },
  async t => {
    const storeUrl = `sqlite:${join(fleet.dir, 'wa.db')}`
    const bob = sim.contact('15550002222', { name: 'Bob' })
    let scanned: Promise<{ jid: string }> | undefined
    const first = startChild(storeUrl, e => {
      if (e.type === 'qr') scanned ??= sim.phone.scan(e.qr!)
    })
    await first.waitFor(e => e.type === 'state' && e.state === 'connected', 'connected after linking', 20_000)
    const jid = (await scanned!).jid

    await bob.sendText('m0')
    assert.equal((await bob.nextMessage()).text, 'echo: m0')

    for (let i = 1; i <= 6; i++) await bob.sendText(`m${i}`)
    await first.waitFor(e => e.type === 'received' && e.text === 'm2', 'm2 received')
    first.child.kill('SIGTERM')
    assert.equal(await first.exited, 0, 'graceful stop exits 0')
    const stopped = first.events.find(e => e.type === 'stopped')
    assert.ok(stopped, 'the child reported its graceful stop')
    t.diagnostic(`creds writes: ${JSON.stringify(stopped.stats!.creds)}`)
    assert.ok(sim.device(jid), 'a graceful stop never logs out')

    // Every write the child saw resolve is what the store holds (the last one per key).
    const lastCreds = first.events.filter(e => e.type === 'ack' && e.creds).pop()?.creds
    const lastKey = new Map<string, [string, string, string | null]>()
    for (const e of first.events) if (e.type === 'ack') for (const k of e.keys!) lastKey.set(`${k[0]}\u0000${k[1]}`, k)
    const store = await openStore(storeUrl)
    try {
      assert.equal(sha(await rawDriver(store).getCreds('main')), lastCreds)
      for (const [type, id, hash] of lastKey.values()) {
        const got = await rawDriver(store).get('main', type, [id])
        assert.equal(sha(got.get(id)), hash, `${type} ${id}`)
      }
      assert.ok(lastKey.size > 800, 'the pre-keys, sessions and the rest were checked')
    } finally {
      await store.close()
    }

    const second = startChild(storeUrl, () => undefined)
    await second.waitFor(e => e.type === 'state' && e.state === 'connected', 'connected after restart')
    assert.equal(second.events.filter(e => e.type === 'qr').length, 0, 'no QR after a graceful stop')
    await bob.sendText('after restart')
    await second.waitFor(e => e.type === 'received' && e.text === 'after restart', 'the next message decrypted')
    for (;;) {
      const msg = await bob.nextMessage(15_000)
      if (msg.text === 'echo: after restart') break
    }
    assert.deepEqual(bob.decryptErrors, [])
    // The server's side of the restart: no kick (no 440 replaced), one live connection.
    assert.deepEqual(
      Object.entries(sim.device(jid)!.kicks).filter(([, n]) => n > 0),
      [],
      'the simulator kicked nothing'
    )
    assert.equal(sim.device(jid)!.liveConnections, 1)
    second.child.kill('SIGTERM')
    assert.equal(await second.exited, 0)
  }
)
