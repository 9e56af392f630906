/**
 * The runtime's connect deadline (connectDeadlineMs): an attempt that neither opens, shows a QR
 * nor closes is ended as a 408 and reconnected, with the real makeWASocket. Seen in the full
 * soak: after a simulator restart a session stayed `connecting` for 7+ minutes.
 * 1. A server that accepts TCP and never answers: the session leaves `connecting` (408), tries
 *    again, and connects once the port leads to the simulator. Control: a session without the
 *    deadline, started beside it, is still `connecting` on its first connection.
 * 2. Once a QR shows, the deadline no longer applies (linking has its own timeouts).
 * 3. The soak's case: the upgrade answered by an HTTP 503 and the connection closed (a server
 *    shutting down). Baileys' connectTimeoutMs never ends that socket (control: still
 *    `connecting` well past it); the deadline does.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, afterEach, before, describe, test } from 'node:test'
import { openStore } from '../../src/open-store.js'
import type { AuthStore as Store } from '../../src/auth/auth-store.js'
import { startSession, type Session, type StartSessionOptions } from '../../src/runtime/index.js'
import { checkSessionOptions } from '../../src/runtime/options.js'
import type { RuntimeLogger } from '../../src/runtime/logger.js'
import { isVaultError } from '../../src/core/errors.js'
import { linkSessions } from '../helpers/link-sessions.js'
import { FAST_POLICY, recordStates, socketOptions } from '../helpers/runtime-suite.js'
import { eventually } from '../helpers/sim-lifecycle.js'
import { useSimulator } from '../helpers/use-simulator.js'

const WAIT_MS = 15_000

/**
 * A loopback TCP server that accepts every connection and, until `forwardTo` is set, either says
 * nothing ('silent') or answers the HTTP upgrade with a 503 and closes ('refuse-upgrade').
 * With `forwardTo` set, new connections are piped to that port (the simulator).
 */
async function stuckServer(mode: 'silent' | 'refuse-upgrade') {
  const sockets = new Set<net.Socket>()
  const state = { connections: 0, forwardTo: undefined as number | undefined }
  const server = net.createServer(client => {
    state.connections++
    sockets.add(client)
    client.on('error', () => undefined)
    client.on('close', () => sockets.delete(client))
    if (state.forwardTo !== undefined) {
      const upstream = net.connect(state.forwardTo, '127.0.0.1')
      sockets.add(upstream)
      upstream.on('error', () => client.destroy())
      client.on('close', () => upstream.destroy())
      upstream.on('close', () => client.destroy())
      client.pipe(upstream).pipe(client)
    } else if (mode === 'refuse-upgrade') {
      client.once('data', () => client.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'))
    }
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  return {
    state,
    port,
    close: () => {
      for (const s of sockets) s.destroy()
      return new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}

/** A runtime logger keeping the warn lines (the operator's view). */
function warnRecorder() {
  const warns: string[] = []
  const noop = () => undefined
  const logger: RuntimeLogger = { debug: noop, info: noop, error: noop, warn: (_obj, msg) => void warns.push(msg ?? '') }
  return { warns, logger }
}

describe('connect deadline', () => {
  const sim = useSimulator()
  let dir: string
  let url: string
  let store: Store
  const cleanups: Array<() => Promise<void>> = []

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vault-connect-deadline-'))
    url = `sqlite:${join(dir, 'vault.db')}`
    // The suite's socket options: their query timeouts do not hold the process open after the tests (helpers/sim-client.ts).
    await linkSessions({ url, ids: ['bot', 'control'], sim, socket: socketOptions(sim) })
    store = await openStore(url)
  })

  // Each test's sessions stop (giving their leases back) and its servers close before the next test.
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  after(async () => {
    await store?.close()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  /** A linked session pointed at `port` instead of the simulator; Baileys' own timeout at `connectTimeoutMs`. */
  const startAt = async (sessionId: string, port: number, extra: Partial<StartSessionOptions> & { connectTimeoutMs: number }): Promise<Session> => {
    const { connectTimeoutMs, ...rest } = extra
    const target = new URL(sim.url)
    target.port = String(port)
    const session = await startSession({
      store,
      sessionId,
      socket: { ...socketOptions(sim), waWebSocketUrl: target.toString(), connectTimeoutMs },
      policy: FAST_POLICY,
      ...rest
    })
    cleanups.push(() => session.stop())
    return session
  }

  test('bad values are INVALID_ARGUMENT', () => {
    for (const bad of [-1, Number.NaN, Infinity, '45s']) {
      assert.throws(
        () => checkSessionOptions({ connectDeadlineMs: bad as number }),
        err => isVaultError(err, 'INVALID_ARGUMENT')
      )
    }
    checkSessionOptions({ connectDeadlineMs: 0 })
  })

  test('a server that accepts and never answers: 408, another try, connected once the port leads to the simulator', { timeout: 30_000 }, async () => {
    const hole = await stuckServer('silent')
    const controlHole = await stuckServer('silent')
    cleanups.push(hole.close, controlHole.close)
    const { warns, logger } = warnRecorder()
    // Baileys' own timeout (15 s) is far beyond what the test waits: only the runtime's deadline can end these
    // attempts. (Its timers of that length do not hold the process open: helpers/sim-client.ts unrefs them.)
    const session = await startAt('bot', hole.port, { connectTimeoutMs: 15_000, connectDeadlineMs: 400, logger })
    const control = await startAt('control', controlHole.port, { connectTimeoutMs: 15_000, connectDeadlineMs: 0 })
    const rec = recordStates(session)
    const controlRec = recordStates(control)

    await eventually(() => hole.state.connections >= 2, 'a second connection', WAIT_MS)
    const closed = rec.changes.find(c => c.state === 'disconnected')
    assert.ok(closed, `the session left connecting (${rec.states().join(' → ')})`)
    assert.equal(closed.previous, 'connecting')
    assert.equal(closed.reason.code, 408)
    assert.match(closed.reason.message, /connectDeadlineMs \(400 ms\)/)
    assert.ok(
      warns.some(w => /connection attempt timed out: .*connectDeadlineMs \(400 ms\)/.test(w)),
      `the warn line (${warns.join(' | ')})`
    )

    // Control, at the same moment: without the deadline nothing ends the first attempt.
    assert.equal(control.state, 'connecting', `control: ${controlRec.states().join(' → ')}`)
    assert.equal(controlHole.state.connections, 1)
    assert.ok(!controlRec.changes.some(c => c.reason.code === 408), 'control: no 408')

    // Late closes of the abandoned sockets never move the session; once the port leads to the simulator it connects.
    hole.state.forwardTo = sim.port
    await rec.until('connected', 0, WAIT_MS)
    const tries = hole.state.connections
    await new Promise(resolve => setTimeout(resolve, 200))
    assert.equal(session.state, 'connected', `still connected (${rec.states().join(' → ')})`)
    assert.equal(hole.state.connections, tries, 'no attempt after connecting')
    assert.equal(rec.changes.filter(c => c.state === 'disconnected').length, tries - 1, `one 408 per abandoned attempt (${rec.states().join(' → ')})`)
  })

  test('a QR shown: the deadline no longer ends the linking attempt', { timeout: 30_000 }, async () => {
    const session = await startSession({ store, sessionId: 'new', socket: socketOptions(sim), policy: FAST_POLICY, connectDeadlineMs: 300 })
    cleanups.push(() => session.stop())
    const rec = recordStates(session)
    const sockets: unknown[] = []
    session.on('socket', sock => void sockets.push(sock))
    let qrs = 0
    session.on('qr', () => qrs++)
    await rec.until('registering', 0, WAIT_MS)
    // Three deadlines later the same socket still shows its QR (without the QR rule it would have ended at 300 ms).
    await new Promise(resolve => setTimeout(resolve, 900))
    assert.equal(session.state, 'registering', rec.states().join(' → '))
    assert.equal(sockets.length, 1)
    assert.ok(qrs >= 1)
    assert.ok(!rec.changes.some(c => c.reason.code === 408), rec.states().join(' → '))
  })

  test('an upgrade answered by HTTP 503: Baileys never closes it, the deadline does', { timeout: 30_000 }, async () => {
    const refusing = await stuckServer('refuse-upgrade')
    const controlRefusing = await stuckServer('refuse-upgrade')
    cleanups.push(refusing.close, controlRefusing.close)
    // Baileys' timeout at 300 ms for both; the deadline (1,200 ms) only for the first.
    const session = await startAt('bot', refusing.port, { connectTimeoutMs: 300, connectDeadlineMs: 1_200 })
    const control = await startAt('control', controlRefusing.port, { connectTimeoutMs: 300, connectDeadlineMs: 0 })
    const rec = recordStates(session)
    const controlRec = recordStates(control)

    await eventually(() => refusing.state.connections >= 2, 'a second connection', WAIT_MS)
    assert.equal(rec.changes.find(c => c.state === 'disconnected')?.reason.code, 408)
    // The deadline passed meanwhile, four times Baileys' connectTimeoutMs: its socket is still CONNECTING and reported nothing.
    assert.equal(control.state, 'connecting', `control: ${controlRec.states().join(' → ')}`)
    assert.equal(controlRefusing.state.connections, 1)
    assert.equal(control.socket?.ws.isConnecting, true, 'control: the WebSocket is still CONNECTING')
  })
})
