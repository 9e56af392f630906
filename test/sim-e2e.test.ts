/**
 * End-to-end: the real Baileys client (makeWASocket) against the protocol simulator, on real
 * baileys-vault stores. The six lifecycle scenarios of issue 7. Every wait is bounded so a hang
 * fails fast; everything listens and connects on 127.0.0.1 only.
 */
import assert from 'node:assert/strict'
import { fork, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { DisconnectReason, INITIAL_PREKEY_COUNT, useMultiFileAuthState } from '@whiskeysockets/baileys'
import { openStore } from '../src/store/open-store.js'
import { migrate } from '../src/tools/migrate.js'
import { startSimulator, trustSimulator, type LinkedDevice, type Simulator } from '../src/sim/index.js'
import { connectClient, textOf, type Client, type ClientOptions } from './helpers/sim-client.js'

const OPEN_MS = 10_000

let sim: Simulator
let dir: string
let untrust: () => void

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vault-sim-e2e-'))
  sim = await startSimulator()
  untrust = trustSimulator(sim)
})

after(async () => {
  untrust?.()
  await sim?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

/** Pairs a fresh auth state: QR → phone scan → 515. Returns the linked device. */
async function pair(auth: ClientOptions['auth']): Promise<LinkedDevice> {
  let scan: Promise<LinkedDevice> | undefined
  const client = connectClient({ url: sim.url, auth, onQr: qr => (scan ??= sim.phone.scan(qr)) })
  const code = await client.waitForClose(OPEN_MS)
  await client.end()
  assert.ok(scan, 'the client showed a QR code')
  assert.equal(code, DisconnectReason.restartRequired, 'pairing ends with 515 restart required')
  assert.deepEqual(client.saveErrors, [])
  return scan
}

/** Connects from saved creds and waits for open; fails if a QR shows up. */
async function login(auth: ClientOptions['auth']): Promise<Client> {
  const client = connectClient({ url: sim.url, auth, onQr: () => assert.fail('a linked device must not be asked to scan a QR code') })
  await client.waitForOpen(OPEN_MS)
  return client
}

/** Waits until `fn` holds (server-side state settles asynchronously). */
async function eventually(fn: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!fn()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`)
    await new Promise(r => setTimeout(r, 20))
  }
}

describe('simulator lifecycle on a SQLite store', () => {
  let storeUrl: string
  let linked: LinkedDevice

  test('1. fresh store → QR → scan → pair-success → 515 → reconnect from saved state → open', { timeout: 40_000 }, async () => {
    storeUrl = `sqlite:${join(dir, 'x.db')}`
    const store = await openStore(storeUrl)
    try {
      const auth = await store.useAuthState('bot')
      assert.equal(auth.isNew, true)
      linked = await pair(auth)
      assert.match(linked.jid, /^15550009999:\d+@s\.whatsapp\.net$/)

      // The pairing result was persisted, not just held in memory.
      const saved = await store.readCreds('bot')
      assert.equal(saved?.me?.id, linked.jid)
      assert.ok(saved?.account?.details?.length, 'signed device identity saved')

      const client = await login(auth)
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
        const client = await login(auth)
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
      const client = await login(await store.useAuthState('bot'))

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
      for (const [reason, expected] of cases) {
        const client = await login(auth)
        assert.equal(sim.kick(linked.jid, reason), 1)
        assert.equal(await client.waitForClose(OPEN_MS), expected, `kick ${reason}`)
        await client.end()
        assert.ok(sim.device(linked.jid), `the device survives ${reason}`)
      }

      // A second login with the same creds replaces the first connection, as on the real server.
      const first = await login(auth)
      const second = await login(auth)
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

describe('simulator: SIGKILL of the client process', () => {
  const CHILD = fileURLToPath(new URL('./helpers/sim-child.js', import.meta.url))
  const children: ChildProcess[] = []
  after(() => children.forEach(c => c.kill('SIGKILL')))

  interface ChildEvent { type: string; text?: string; code?: number; qr?: string }

  function startChild(storeUrl: string, onEvent: (e: ChildEvent) => void): ChildProcess {
    const child = fork(CHILD, [sim.url, sim.rootPublicKey.toString('hex'), storeUrl, 'killed'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
    children.push(child)
    child.on('message', msg => onEvent(msg as ChildEvent))
    return child
  }

  function waitForEvent(events: ChildEvent[], pred: (e: ChildEvent) => boolean, what: string, timeoutMs = OPEN_MS): Promise<ChildEvent> {
    return (async () => {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const hit = events.find(pred)
        if (hit) return hit
        if (Date.now() > deadline) assert.fail(`timed out waiting for the child to report ${what}; saw ${events.map(e => e.type).join(',')}`)
        await new Promise(r => setTimeout(r, 20))
      }
    })()
  }

  test('4. SIGKILL during message traffic, restart from the store: no QR, next message decrypts both ways', { timeout: 90_000 }, async () => {
    const storeUrl = `sqlite:${join(dir, 'killed.db')}`
    const bob = sim.contact('15550002222', { name: 'Bob' })

    const events1: ChildEvent[] = []
    const child1 = startChild(storeUrl, e => {
      events1.push(e)
      if (e.type === 'qr' && events1.filter(x => x.type === 'qr').length === 1) void sim.phone.scan(e.qr!)
    })
    await waitForEvent(events1, e => e.type === 'open', 'open after pairing', 20_000)
    assert.ok(events1.some(e => e.type === 'close' && e.code === DisconnectReason.restartRequired))

    await bob.sendText('m0')
    assert.equal((await bob.nextMessage()).text, 'echo: m0')

    // Traffic in flight: the bot is killed while it decrypts and answers.
    const exited = new Promise(resolve => child1.once('exit', resolve))
    for (let i = 1; i <= 6; i++) await bob.sendText(`m${i}`)
    await waitForEvent(events1, e => e.type === 'received' && e.text === 'm2', 'm2 received')
    child1.kill('SIGKILL')
    await exited
    for (let i = 7; i <= 8; i++) await bob.sendText(`m${i}`) // queued by the server while the bot is down

    const events2: ChildEvent[] = []
    const child2 = startChild(storeUrl, e => events2.push(e))
    await waitForEvent(events2, e => e.type === 'open', 'open after restart')
    assert.equal(events2.filter(e => e.type === 'qr').length, 0, 'no QR after a crash')

    await bob.sendText('after restart')
    await waitForEvent(events2, e => e.type === 'received' && e.text === 'after restart', 'the next message decrypted')
    for (;;) {
      const msg = await bob.nextMessage(OPEN_MS)
      if (msg.text === 'echo: after restart') break
    }
    child2.kill('SIGKILL')
  })
})

describe('simulator: migrating the store between runs', () => {
  test('5. Baileys folder → SQLite → memory: connects without QR on each target and messages decrypt', { timeout: 90_000 }, async () => {
    const carol = sim.contact('15550003333', { name: 'Carol' })
    // Run 1 on Baileys' own useMultiFileAuthState: the folder users migrate from.
    const folder = join(dir, 'baileys-folder')
    const folderAuth = await useMultiFileAuthState(folder)
    const device = await pair(folderAuth)
    {
      const client = await login(folderAuth)
      await carol.sendText('before migration')
      assert.equal(textOf(await client.nextMessage()), 'before migration')
      await client.sock.sendMessage(carol.jid, { text: 'reply before migration' })
      assert.equal((await carol.nextMessage()).text, 'reply before migration')
      await client.end()
    }

    const targets = [`sqlite:${join(dir, 'migrated.db')}`, 'memory:sim-e2e-migrated']
    let source = await openStore(`file:${folder}`)
    // The folder store names its only session after the folder layout; find it.
    const sessions: string[] = []
    for await (const s of source.sessions()) sessions.push(s)
    assert.equal(sessions.length, 1)
    const session = sessions[0]
    try {
      for (const [i, url] of targets.entries()) {
        const target = await openStore(url)
        const result = await migrate(source, target)
        assert.equal(result.ok, true, `migration to ${url} verified`)
        await source.close()
        source = target

        const auth = await target.useAuthState(session)
        assert.equal(auth.isNew, false)
        assert.equal(auth.state.creds.me?.id, device.jid)
        const client = await login(auth)
        await carol.sendText(`after migration ${i}`)
        assert.equal(textOf(await client.nextMessage()), `after migration ${i}`)
        await client.sock.sendMessage(carol.jid, { text: `reply after migration ${i}` })
        assert.equal((await carol.nextMessage()).text, `reply after migration ${i}`)
        await client.end()
        assert.deepEqual(client.saveErrors, [])
      }
      assert.equal(carol.retryReceipts, 0)
      assert.deepEqual(carol.decryptErrors, [])

      // The client-side logout (remove-companion-device) also removes the device on the server.
      const client = await login(await source.useAuthState(session))
      await client.sock.logout()
      await client.end()
      await eventually(() => sim.device(device.jid) === undefined, 'the server forgot the logged-out device')
    } finally {
      await source.close()
    }
  })
})
