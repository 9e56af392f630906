/**
 * Session claims with real Baileys on both ends: Alice (this process) and Bob (an echo bot in a
 * child process), each its own account on the simulator, each on a baileys-vault SQLite store.
 * Bob is SIGKILLed in the middle of the conversation; what Alice sends meanwhile waits in the
 * server's offline queue; Bob restarts from his store without a QR code, and both persisted
 * Signal sessions carry on: every later message decrypts both ways.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { phoneForPushName } from '../../src/sim/state.js'
import { useAliceWithPeers } from '../helpers/alice-with-peers.js'
import { SIM_CHILD, type PeerChild } from '../helpers/sim-peer-child.js'
import { waitForText } from '../helpers/sim-peers.js'

const peers = useAliceWithPeers({ tmpPrefix: 'vault-sim-peers-crash-' })

/** Bob's echo bot on `storeUrl`. */
function startBob(storeUrl: string, env: Record<string, string> = {}): PeerChild {
  return peers.startPeer({ script: SIM_CHILD, args: [storeUrl, 'bob'], pushName: 'Bob', env })
}

test('SIGKILL one of two real clients mid-conversation: it restarts from its store and both sessions continue', { timeout: 120_000 }, async () => {
  const storeUrl = `sqlite:${join(peers.dir, 'bob.db')}`
  const bobJid = `${phoneForPushName('Bob')}@s.whatsapp.net`
  // The worst moment: Bob dies right after his 4th message (the echo of m4) left, before
  // Baileys committed the session it encrypted with (it commits after the send).
  const first = startBob(storeUrl, { VAULT_SIM_KILL: 'send:4' })
  await first.waitFor(e => e.type === 'open', 'Bob open after linking')

  for (let i = 1; i <= 3; i++) {
    await peers.alice.client.sock.sendMessage(bobJid, { text: `m${i}` })
    const echo = await waitForText(peers.alice.client, `echo: m${i}`)
    assert.equal(echo.pushName, 'Bob')
  }
  await peers.alice.client.sock.sendMessage(bobJid, { text: 'm4' })
  await first.exited
  await waitForText(peers.alice.client, 'echo: m4')
  // m5 and m6 wait in the server's offline queue while Bob is down.
  for (const text of ['m5', 'm6']) await peers.alice.client.sock.sendMessage(bobJid, { text })

  const second = startBob(storeUrl)
  await second.waitFor(e => e.type === 'open', 'Bob open after the restart')
  assert.equal(second.events.filter(e => e.type === 'qr').length, 0, 'no QR code after a crash')
  // What waited in the offline queue decrypts on Bob's persisted session. His first echo reuses
  // the counter of the lost commit: Alice's Baileys asks for it again with a retry receipt, the
  // server routes it to Bob, and Bob's Baileys sends it again on a fresh session.
  for (const text of ['m5', 'm6']) await waitForText(peers.alice.client, `echo: ${text}`)
  await peers.alice.client.sock.sendMessage(bobJid, { text: 'after restart' })
  await waitForText(peers.alice.client, 'echo: after restart')
  second.child.kill('SIGKILL')
})
