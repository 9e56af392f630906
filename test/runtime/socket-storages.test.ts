/**
 * A session that reconnects many times must not leave its old sockets' AsyncLocalStorages
 * enabled (core/socket-storages.ts): on Node 20 each one stays for good and every later promise
 * carries a slot for it. Real makeWASocket against the simulator; the count of enabled storages
 * is read off a fresh promise (one symbol slot per enabled storage).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { openStore } from '../../src/open-store.js'
import { startSession } from '../../src/runtime/index.js'
import { startSimulator, trustSimulator } from '../../src/sim/index.js'
import { recordStates, socketOptions } from '../helpers/runtime-suite.js'

/** How many AsyncLocalStorages are enabled in this process: each gives every new promise one symbol slot. */
const enabledStorageSlots = () => Object.getOwnPropertySymbols(Promise.resolve()).length
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

const RECONNECTS = 10
/**
 * The grace before a closed socket's storages are disabled is twice the query timeout: 8 s here,
 * longer than two reconnects take even at load 25, so the control below sees the last ones.
 */
const QUERY_TIMEOUT_MS = 4_000

test(`after ${RECONNECTS} reconnects the old sockets' AsyncLocalStorages are disabled`, { timeout: 120_000 }, async () => {
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
  try {
    const states = recordStates(session)
    let linked: Promise<{ jid: string }> | undefined
    session.on('qr', qr => void (linked ??= sim.phone.scan(qr)))
    await states.until('connected')
    const { jid } = await linked!
    const contact = sim.contact('15550007001')
    // A message each time makes the socket run a key transaction (which enables its storage).
    const exchange = async (n: number) => {
      await contact.sendText(`hello ${n}`, { to: jid })
      await sleep(50)
    }
    await exchange(0)
    const before = enabledStorageSlots()

    for (let i = 1; i <= RECONNECTS; i++) {
      const seen = states.changes.length
      assert.equal(sim.kick(jid, 'restart'), 1, 'the kick reached the session')
      await states.until('connected', seen)
      await exchange(i)
    }
    // Control: right after the reconnects the closed sockets' storages are still enabled, so the count sees them.
    const rightAfter = enabledStorageSlots()
    assert.ok(rightAfter >= before + 2, `each socket enables a storage the count sees: ${before} -> ${rightAfter} slots`)

    // Past the grace of the last closed socket, every closed socket's storage is disabled.
    const until = Date.now() + 2 * QUERY_TIMEOUT_MS + 10_000
    while (enabledStorageSlots() > before && Date.now() < until) await sleep(200)
    const settled = enabledStorageSlots()
    assert.ok(settled <= before, `storages of closed sockets are disabled after the grace: ${before} before, ${rightAfter} right after, ${settled} now`)
  } finally {
    await session.stop()
    await store.close()
    untrust()
    await sim.stop()
  }
})
