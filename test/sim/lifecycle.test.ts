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
import { DisconnectReason, useMultiFileAuthState } from '@whiskeysockets/baileys'
import { openStore } from '../../src/open-store.js'
import { migrate } from '../../src/tools/migrate.js'
import { textOf } from '../helpers/sim-client.js'
import { eventually, login, OPEN_MS, pair, simLifecycleSuite } from '../helpers/sim-lifecycle.js'
import { useSimulator } from '../helpers/use-simulator.js'

const sim = useSimulator()
let dir: string

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'vault-sim-e2e-'))
})

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true })
})

simLifecycleSuite('SQLite', async () => ({ url: `sqlite:${join(dir, 'x.db')}` }))
simLifecycleSuite('file (Baileys folder)', async () => ({ url: `file:${join(dir, 'folder-store')}` }))

describe('simulator: SIGKILL of the client process', () => {
  const CHILD = fileURLToPath(new URL('../helpers/sim-child.js', import.meta.url))
  const children: ChildProcess[] = []
  after(() => children.forEach(c => c.kill('SIGKILL')))

  interface ChildEvent {
    type: string
    text?: string
    code?: number
    qr?: string
  }

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
    const device = await pair(sim, folderAuth)
    {
      const client = await login(sim, folderAuth)
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
    const session = sessions[0] ?? assert.fail('one session')
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
        const client = await login(sim, auth)
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
      const client = await login(sim, await source.useAuthState(session))
      await client.sock.logout()
      await client.end()
      await eventually(() => sim.device(device.jid) === undefined, 'the server forgot the logged-out device')
    } finally {
      await source.close()
    }
  })
})
