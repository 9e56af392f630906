/**
 * Stanzas real Baileys sends that a strict reading of the protocol would refuse: Baileys' own
 * 'sender' receipt with no participant leaves `to` out (messages-send.js sendReceipt). The
 * simulator must answer it and keep the connection; closing it made every such session loop on
 * reconnects under the soak.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { openStore } from '../../src/open-store.js'
import { login, pair } from '../helpers/sim-lifecycle.js'
import { useSimulator } from '../helpers/use-simulator.js'

const sim = useSimulator()

test("Baileys' sender receipt without `to` keeps the connection: a query sent after it is answered", { timeout: 60_000 }, async () => {
  const store = await openStore('memory:')
  const auth = await store.useAuthState('bot')
  await pair(sim, auth)
  const client = await login(sim, auth)
  try {
    const self = client.sock.user?.id ?? assert.fail('logged in as a device')
    await client.sock.sendReceipt(self.replace(/:\d+@/, '@'), undefined, ['3EB0RECEIPTWITHOUTTO'], 'sender')
    // Frames are handled in order: had the receipt closed the connection, this query would fail.
    const pong = await client.sock.query({ tag: 'iq', attrs: { to: 's.whatsapp.net', type: 'get', xmlns: 'w:p' }, content: [{ tag: 'ping', attrs: {} }] })
    assert.equal(pong.attrs.type, 'result')
  } finally {
    await client.end()
    await store.close()
  }
})
