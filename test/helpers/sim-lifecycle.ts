/**
 * The simulator lifecycle scenarios (issue 7: 1, 2, 3 and 6) as a suite any store runs:
 * pairing, reopen without QR or pre-key re-upload, pkmsg then msg both ways, and every
 * disconnect signal. Each suite has its own simulator; every wait is bounded.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { DisconnectReason, INITIAL_PREKEY_COUNT } from '@whiskeysockets/baileys'
import { openStore } from '../../src/open-store.js'
import type { KickReason, LinkedDevice, Simulator } from '../../src/sim/index.js'
import { connectClient, textOf, type Client, type ClientOptions } from './sim-client.js'
import { useSimulator } from './use-simulator.js'

export const OPEN_MS = 10_000

/** Pairs a fresh auth state: QR → phone scan → 515. Returns the linked device. */
export async function pair(sim: Simulator, auth: ClientOptions['auth']): Promise<LinkedDevice> {
  let scan: Promise<LinkedDevice> | undefined
  const client = connectClient({
    url: sim.url,
    auth,
    onQr: qr => {
      scan ??= sim.phone.scan(qr)
    }
  })
  const code = await client.waitForClose(OPEN_MS)
  await client.end()
  assert.ok(scan, 'the client showed a QR code')
  assert.equal(code, DisconnectReason.restartRequired, 'pairing ends with 515 restart required')
  assert.deepEqual(client.saveErrors, [])
  return scan
}

/**
 * Pairs a fresh auth state by code: on its first QR the client calls requestPairingCode for the
 * phone's number, then `enter` types the code (the phone by default; a test may go over HTTP).
 * Returns the linked device once the client got its 515.
 */
export async function pairByCode(
  sim: Simulator,
  auth: ClientOptions['auth'],
  enter: (code: string) => Promise<LinkedDevice> = code => sim.phone.enterCode(code)
): Promise<LinkedDevice> {
  let requested: Promise<string> | undefined
  const client: Client = connectClient({
    url: sim.url,
    auth,
    onQr: () => {
      requested ??= client.sock.requestPairingCode(sim.phone.account.pn)
    }
  })
  try {
    await eventually(() => !!requested, 'the client asked for a pairing code', OPEN_MS)
    const linked = await enter(await requested!)
    assert.equal(await client.waitForClose(OPEN_MS), DisconnectReason.restartRequired, 'pairing by code ends with 515 restart required')
    return linked
  } finally {
    await client.end()
    assert.deepEqual(client.saveErrors, [])
  }
}

/** Connects from saved creds and waits for open; fails if a QR shows up. */
export async function login(sim: Simulator, auth: ClientOptions['auth'], config?: ClientOptions['config']): Promise<Client> {
  const client = connectClient({ url: sim.url, auth, config, onQr: () => assert.fail('a linked device must not be asked to scan a QR code') })
  await client.waitForOpen(OPEN_MS)
  return client
}

/** A logged-in client kicked with `reason` closes with `expected`; the server keeps the device. */
export async function assertKickSurvived(options: {
  sim: Simulator
  auth: ClientOptions['auth']
  jid: string
  reason: KickReason
  expected: number
}): Promise<void> {
  const { sim, jid, reason } = options
  const client = await login(sim, options.auth)
  assert.equal(sim.kick(jid, reason), 1)
  assert.equal(await client.waitForClose(OPEN_MS), options.expected, `kick ${reason}`)
  await client.end()
  assert.ok(sim.device(jid), `the device survives ${reason}`)
}

/** Waits until `fn` holds (server-side state settles asynchronously); `fn` may ask a server. */
export async function eventually(fn: () => boolean | Promise<boolean>, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await fn())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`)
    await new Promise(r => setTimeout(r, 20))
  }
}

export interface SuiteTarget {
  url: string
  cleanup?: () => Promise<void>
}

export function simLifecycleSuite(label: string, makeTarget: () => Promise<SuiteTarget>): void {
  describe(`simulator lifecycle on a ${label} store`, () => {
    const sim = useSimulator()
    let target: SuiteTarget
    let storeUrl: string
    let linked: LinkedDevice

    before(async () => {
      target = await makeTarget()
      storeUrl = target.url
    })

    after(async () => {
      await target?.cleanup?.()
    })

    test('1. fresh store → QR → scan → pair-success → 515 → reconnect from saved state → open', { timeout: 40_000 }, async () => {
      const store = await openStore(storeUrl)
      try {
        const auth = await store.useAuthState('bot')
        assert.equal(auth.isNew, true)
        linked = await pair(sim, auth)
        assert.match(linked.jid, /^15550009999:\d+@s\.whatsapp\.net$/)

        // The pairing result was persisted, not just held in memory.
        const saved = await store.readCreds('bot')
        assert.equal(saved?.me?.id, linked.jid)
        assert.ok(saved?.account?.details?.length, 'signed device identity saved')

        const client = await login(sim, auth)
        await client.end()
        assert.deepEqual(client.saveErrors, [])
        assert.equal(client.qrs.length, 0)
      } finally {
        await store.close()
      }

      const reopened = await openStore(storeUrl)
      try {
        const creds = await reopened.readCreds('bot')
        assert.equal(creds?.me?.id, linked.jid)
        assert.equal(creds?.me?.lid, linked.lid, 'the LID from <success> was persisted')
        assert.equal(creds?.nextPreKeyId, INITIAL_PREKEY_COUNT + 1, 'the first login generated and saved the initial pre-keys')
        assert.equal((await reopened.readKeys('bot', 'pre-key', ['1', String(INITIAL_PREKEY_COUNT)])).size, 2)
      } finally {
        await reopened.close()
      }
      const device = sim.device(linked.jid)
      assert.equal(device?.preKeyUploads, 1)
      assert.equal(device?.preKeyCount, INITIAL_PREKEY_COUNT)
    })

    test('2. close and reopen: no QR, open, no pre-key re-upload while the server has enough', { timeout: 30_000 }, async () => {
      for (let round = 0; round < 2; round++) {
        const store = await openStore(storeUrl)
        try {
          const auth = await store.useAuthState('bot')
          assert.equal(auth.isNew, false)
          const client = await login(sim, auth)
          assert.equal(sim.device(linked.jid)?.online, true)
          await client.end()
          assert.deepEqual(client.saveErrors, [])
        } finally {
          await store.close()
        }
      }
      assert.equal(sim.device(linked.jid)?.preKeyUploads, 1, 'no second upload')
      assert.equal(sim.device(linked.jid)?.preKeyCount, INITIAL_PREKEY_COUNT)
    })

    test('3. a contact sends texts (pkmsg, then msg after a reply); the bot replies and the contact decrypts', { timeout: 30_000 }, async () => {
      const alice = sim.contact('15550001111', { name: 'Alice' })
      const store = await openStore(storeUrl)
      try {
        const client = await login(sim, await store.useAuthState('bot'))

        const first = await alice.sendText('hello bot')
        assert.deepEqual(first.types, ['pkmsg'])
        const got1 = await client.nextMessage()
        assert.equal(textOf(got1), 'hello bot')
        assert.equal(got1.key.remoteJid, alice.jid)
        assert.equal(got1.key.id, first.id)
        assert.equal(got1.pushName, 'Alice')
        assert.equal(sim.device(linked.jid)?.preKeyCount, INITIAL_PREKEY_COUNT - 1, 'one one-time pre-key handed out')

        await client.sock.sendMessage(alice.jid, { text: 'hi Alice' })
        const reply = await alice.nextMessage()
        assert.equal(reply.text, 'hi Alice')
        assert.equal(reply.from, linked.lid)

        const second = await alice.sendText('second message')
        assert.deepEqual(second.types, ['msg'], 'the session is confirmed after the reply')
        assert.equal(textOf(await client.nextMessage()), 'second message')

        await client.sock.sendMessage(alice.jid, { text: 'and a second reply' })
        assert.equal((await alice.nextMessage()).text, 'and a second reply')

        assert.equal(alice.retryReceipts, 0, 'the client never failed to decrypt')
        assert.deepEqual(alice.decryptErrors, [])
        await client.end()
        assert.deepEqual(client.saveErrors, [])
      } finally {
        await store.close()
      }
    })

    test('6. logout 401, replaced 440, restart 515, bad session 500: the right DisconnectReason', { timeout: 60_000 }, async () => {
      const store = await openStore(storeUrl)
      try {
        const auth = await store.useAuthState('bot')
        const cases: Array<['restart' | 'replaced' | 'badSession', number]> = [
          ['restart', DisconnectReason.restartRequired],
          ['replaced', DisconnectReason.connectionReplaced],
          ['badSession', DisconnectReason.badSession]
        ]
        for (const [reason, expected] of cases) await assertKickSurvived({ sim, auth, jid: linked.jid, reason, expected })

        // A second login with the same creds replaces the first connection, as on the real server.
        const first = await login(sim, auth)
        const second = await login(sim, auth)
        assert.equal(await first.waitForClose(OPEN_MS), DisconnectReason.connectionReplaced)
        await first.end()

        // Conversation still works after all of that.
        const alice = sim.contact('15550001111')
        await alice.sendText('still there?')
        assert.equal(textOf(await second.nextMessage()), 'still there?')

        assert.equal(sim.kick(linked.jid, 'logout'), 1)
        assert.equal(await second.waitForClose(OPEN_MS), DisconnectReason.loggedOut)
        await second.end()
        assert.equal(sim.device(linked.jid), undefined, 'the device is gone on the server')

        // The removed device is refused at login.
        const again = connectClient({ url: sim.url, auth })
        assert.equal(await again.waitForClose(OPEN_MS), DisconnectReason.loggedOut)
        await again.end()
      } finally {
        await store.close()
      }
    })
  })
}
