/**
 * End-to-end: the simulator features the session runtime is tested with (issue 12), against the
 * real makeWASocket on a real SQLite store: pairing by code, the 403 and 411 kicks, a silent
 * (half-open) connection, a server restart, and their HTTP control endpoints.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { DisconnectReason } from '@whiskeysockets/baileys'
import { isVaultError } from '../../src/core/errors.js'
import { openStore } from '../../src/open-store.js'
import type { AuthStore as Store } from '../../src/auth/auth-store.js'
import { startSimulator, type LinkedDevice } from '../../src/sim/index.js'
import { textOf } from '../helpers/sim-client.js'
import { assertKickSurvived, login, OPEN_MS, pairByCode } from '../helpers/sim-lifecycle.js'
import { useSimulator } from '../helpers/use-simulator.js'

let dir: string
let store: Store

// Registered before useSimulator, so it runs while the simulator still listens.
after(async () => {
  await store?.close()
})

const sim = useSimulator()

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vault-sim-runtime-'))
  store = await openStore(`sqlite:${join(dir, 'x.db')}`)
})

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true })
})

const control = (path: string, body?: unknown) =>
  fetch(`${sim.url.replace('ws:', 'http:')}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    body: body === undefined ? undefined : JSON.stringify(body)
  })

describe('pairing by code', () => {
  test('a wrong code links nothing; the right one links, and the device logs in from its saved creds without a QR', { timeout: 60_000 }, async () => {
    const auth = await store.useAuthState('by-code')
    const devicesBefore = sim.devices().length
    let wrongCodeRejected = false
    const linked = await pairByCode(sim, auth, async code => {
      const wrong = code === 'ZZZZ9999' ? 'ZZZZ9998' : 'ZZZZ9999'
      await assert.rejects(sim.phone.enterCode(wrong), err => isVaultError(err, 'NOT_FOUND') && /No device is waiting/.test(err.message))
      assert.equal(sim.devices().length, devicesBefore, 'a wrong code links nothing')
      wrongCodeRejected = true
      return sim.phone.enterCode(code)
    })
    assert.ok(wrongCodeRejected)
    assert.match(linked.jid, /^15550009999:\d+@s\.whatsapp\.net$/)
    assert.equal(sim.devices().length, devicesBefore + 1)

    const saved = await store.readCreds('by-code')
    assert.equal(saved?.me?.id, linked.jid, 'pair-success was persisted')
    const client = await login(sim, auth)
    assert.equal(client.qrs.length, 0)
    assert.equal(sim.device(linked.jid)?.online, true)

    // The linked device talks like any QR-linked one.
    const alice = sim.contact('15550001111', { name: 'Alice' })
    await alice.sendText('hello coded bot')
    assert.equal(textOf(await client.nextMessage()), 'hello coded bot')
    await client.end()
  })

  test('bad input: not 8 characters is INVALID_ARGUMENT; nobody waiting is NOT_FOUND', async () => {
    await assert.rejects(sim.phone.enterCode('ABC'), err => isVaultError(err, 'INVALID_ARGUMENT'))
    await assert.rejects(sim.phone.enterCode('ABCD-1234', { waitMs: 0 }), err => isVaultError(err, 'NOT_FOUND'))
  })

  test('POST /pair-code links the waiting device; a wrong code is a 404', { timeout: 60_000 }, async () => {
    const auth = await store.useAuthState('by-code-http')
    const linked = await pairByCode(sim, auth, async code => {
      const wrong = await control('/pair-code', { code: code === 'ZZZZ9999' ? 'ZZZZ9998' : 'ZZZZ9999' })
      assert.equal(wrong.status, 404)
      assert.match(((await wrong.json()) as { error: string }).error, /No device is waiting/)
      assert.equal((await control('/pair-code', {})).status, 400)
      const right = await control('/pair-code', { code })
      assert.equal(right.status, 200)
      return (await right.json()) as LinkedDevice
    })
    const client = await login(sim, auth)
    assert.equal(sim.device(linked.jid)?.online, true)
    await client.end()
  })
})

describe('kicks, silence and restart', () => {
  let linked: LinkedDevice
  let auth: Awaited<ReturnType<Store['useAuthState']>>

  before(async () => {
    auth = await store.useAuthState('runtime')
    linked = await pairByCode(sim, auth)
  })

  test('forbidden → 403, multideviceMismatch → 411; the device survives both', { timeout: 30_000 }, async () => {
    const cases = [
      ['forbidden', DisconnectReason.forbidden],
      ['multideviceMismatch', DisconnectReason.multideviceMismatch]
    ] as const
    for (const [reason, expected] of cases) await assertKickSurvived({ sim, auth, jid: linked.jid, reason, expected })
    const kicked = await control('/kick', { jid: linked.jid, reason: 'forbidden' })
    assert.deepEqual(await kicked.json(), { told: 0 }, 'the HTTP API knows the new reasons (nobody online to tell)')
  })

  test(
    'silence: Baileys keepalive gives up with 408 on the half-open connection; what was sent meanwhile arrives after the reconnect',
    { timeout: 40_000 },
    async () => {
      const alice = sim.contact('15550001111', { name: 'Alice' })
      const client = await login(sim, auth, { keepAliveIntervalMs: 500 })
      assert.equal(sim.silence(linked.jid, 60_000), 1)
      await alice.sendText('sent into the silence')
      assert.equal(sim.device(linked.jid)?.pendingCount, 1, 'held back, not written to the silent connection')
      assert.equal(await client.waitForClose(15_000), DisconnectReason.connectionLost)
      await client.end()

      const again = await login(sim, auth)
      assert.equal(textOf(await again.nextMessage()), 'sent into the silence')
      await again.end()
    }
  )

  test('silence that ends before the client gives up: the connection stays, held stanzas go out', { timeout: 30_000 }, async () => {
    const alice = sim.contact('15550001111', { name: 'Alice' })
    const client = await login(sim, auth)
    const res = await control('/silence', { jid: linked.jid, ms: 1_000 })
    assert.deepEqual(await res.json(), { silenced: 1 })
    await alice.sendText('after a short silence')
    assert.equal(sim.device(linked.jid)?.pendingCount, 1)
    assert.equal(textOf(await client.nextMessage(OPEN_MS)), 'after a short silence')
    assert.equal(sim.device(linked.jid)?.online, true, 'never closed')
    assert.equal((await control('/silence', { jid: linked.jid, ms: -1 })).status, 400)
    assert.throws(
      () => sim.silence(linked.jid, 0),
      err => isVaultError(err, 'INVALID_ARGUMENT')
    )
    await client.end()
  })

  test('restart: every client sees 428, the port refuses meanwhile, then the same device logs in on the same port', { timeout: 40_000 }, async () => {
    const client = await login(sim, auth)
    const uploads = sim.device(linked.jid)?.preKeyUploads
    const restarting = sim.restart({ downMs: 1_000 })
    assert.equal(await client.waitForClose(OPEN_MS), DisconnectReason.connectionClosed)
    await client.end()
    await assert.rejects(control('/'), 'unreachable while down')
    await restarting

    const again = await login(sim, auth)
    assert.equal(sim.device(linked.jid)?.preKeyUploads, uploads, 'device state kept: no pre-key re-upload')
    const alice = sim.contact('15550001111')
    await alice.sendText('after the restart')
    assert.equal(textOf(await again.nextMessage()), 'after the restart')
    await again.sock.sendMessage(alice.jid, { text: 'reply after the restart' })
    assert.equal((await alice.nextMessage()).text, 'reply after the restart')
    await again.end()
  })

  test('POST /restart answers, then restarts; the client reconnects', { timeout: 40_000 }, async () => {
    const client = await login(sim, auth)
    assert.equal((await control('/restart', { downMs: -5 })).status, 400, 'a bad downMs is refused before anything closes')
    assert.equal(sim.device(linked.jid)?.online, true)
    const res = await control('/restart', { downMs: 100 })
    assert.deepEqual(await res.json(), { restarting: true })
    assert.equal(await client.waitForClose(OPEN_MS), DisconnectReason.connectionClosed)
    await client.end()
    // The port comes back after downMs: wait until the control API answers again.
    for (
      let attempt = 0;
      !(await control('/').then(
        r => r.ok,
        () => false
      ));
      attempt++
    ) {
      assert.ok(attempt < 100, 'the simulator listens again')
      await new Promise(r => setTimeout(r, 50))
    }
    const again = await login(sim, auth)
    assert.equal(sim.device(linked.jid)?.online, true)
    await again.end()
  })

  test('bad input: a stopped simulator does not restart; durations are checked', async () => {
    await assert.rejects(sim.restart({ downMs: -1 }), err => isVaultError(err, 'INVALID_ARGUMENT'))
    const other = await startSimulator()
    await other.stop()
    await assert.rejects(other.restart(), err => isVaultError(err, 'NOT_FOUND'))
    assert.throws(
      () => sim.silence(linked.jid, Number.NaN),
      err => isVaultError(err, 'INVALID_ARGUMENT')
    )
  })
})
