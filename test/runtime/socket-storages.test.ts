/**
 * A session that reconnects many times must not leave its old sockets' AsyncLocalStorages
 * enabled (core/socket-storages.ts): on Node 20 each one stays for good and every later promise
 * carries a slot for it. A closed socket's storage is disabled as soon as none of its key
 * transactions runs, not after a fixed grace: in the full soak (database and server restarts
 * every few seconds) the grace kept hundreds enabled, and the promises' slots for them were
 * most of a 2 GB heap. Real makeWASocket against the simulator; the count of enabled storages
 * is read off a fresh promise (one symbol slot per enabled storage).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { openStore } from '../../src/open-store.js'
import { startSession } from '../../src/runtime/index.js'
import { startSimulator, trustSimulator } from '../../src/sim/index.js'
import type { WASocket } from '../../src/core/baileys.js'
import { recordStates, socketOptions } from '../helpers/runtime-suite.js'
import { eventually } from '../helpers/sim-lifecycle.js'

/** How many AsyncLocalStorages are enabled in this process: each gives every new promise one symbol slot. */
const enabledStorageSlots = () => Object.getOwnPropertySymbols(Promise.resolve()).length

const RECONNECTS = 10
/** The grace bound (twice the query timeout: 4 min) is far beyond the test: only the idle release can disable a storage here. */
const QUERY_TIMEOUT_MS = 120_000

test(
  `after ${RECONNECTS} reconnects the old sockets' storages are disabled at once; one with a transaction running, when it ends`,
  { timeout: 120_000 },
  async () => {
    const sim = await startSimulator()
    const untrust = trustSimulator(sim)
    const store = await openStore('memory:')
    const session = await startSession({
      store,
      sessionId: 'again',
      socket: { ...socketOptions(sim), defaultQueryTimeoutMs: QUERY_TIMEOUT_MS },
      // Every kick is a close: the loop detection must not end the session here.
      policy: { backoff: { initialMs: 20, maxMs: 100 }, loop: { maxFailures: 1_000 } }
    })
    const sockets: WASocket[] = []
    session.on('socket', sock => void sockets.push(sock))
    try {
      const states = recordStates(session)
      let linked: Promise<{ jid: string }> | undefined
      session.on('qr', qr => void (linked ??= sim.phone.scan(qr)))
      await states.until('connected')
      const { jid } = await linked!
      const contact = sim.contact('15550007001')
      // A message each time makes the socket run a key transaction (which enables its storage).
      const exchange = async (n: number) => {
        const received = session.stats().messagesIn
        await contact.sendText(`hello ${n}`, { to: jid })
        await eventually(() => session.stats().messagesIn > received, `the session received hello ${n}`, 15_000)
      }
      const reconnect = async () => {
        const seen = states.changes.length
        assert.equal(sim.kick(jid, 'restart'), 1, 'the kick reached the session')
        await states.until('connected', seen)
      }
      await exchange(0)
      const before = enabledStorageSlots()

      for (let i = 1; i <= RECONNECTS; i++) {
        await reconnect()
        await exchange(i)
      }
      // Within the grace bound, every closed socket's storage is already disabled.
      await eventually(() => enabledStorageSlots() <= before, `closed sockets' storages disabled (${before} slots before, ${enabledStorageSlots()} now)`, 5_000)

      // Control: a transaction still running on a socket that closes keeps that socket's storage
      // enabled (so the count sees it), until the transaction ends.
      let finish!: () => void
      const held = sockets.at(-1)!.authState.keys.transaction(() => new Promise<void>(resolve => (finish = resolve)), 'held-open')
      await reconnect()
      await exchange(RECONNECTS + 1)
      const whileRunning = enabledStorageSlots()
      assert.ok(whileRunning > before, `a closed socket with a transaction running keeps its storage: ${before} -> ${whileRunning} slots`)
      finish()
      await held
      await eventually(() => enabledStorageSlots() <= before, `its storage disabled once the transaction ended (${enabledStorageSlots()} slots)`, 5_000)
    } finally {
      await session.stop()
      await store.close()
      untrust()
      await sim.stop()
    }
  }
)
