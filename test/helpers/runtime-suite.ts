/**
 * The session runtime end to end: real makeWASocket against the simulator, on any store. Each
 * suite has its own simulator and store; every wait is bounded. Backoff delays are made small
 * through the policy options (the sequence itself is checked in runtime/policy-watchdog-states).
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { getNextPreKeys } from '@whiskeysockets/baileys'
import { openStore, type OpenStoreOptions } from '../../src/open-store.js'
import type { AuthStore as Store } from '../../src/auth/auth-store.js'
import { verifyBackup } from '../../src/tools/restore.js'
import {
  canTransition,
  createRuntime,
  startSession,
  type Session,
  type SessionState,
  type StartSessionOptions,
  type StateChange
} from '../../src/runtime/index.js'
import { startSimulator, trustSimulator, type Simulator } from '../../src/sim/index.js'
import { silentLogger, textOf } from './sim-client.js'
import { eventually } from './sim-lifecycle.js'
import { rawDriver } from './raw-driver.js'

export interface RuntimeTarget {
  url: string
  options?: OpenStoreOptions
  cleanup?: () => Promise<void>
}

const WAIT_MS = 15_000

/** Transitions the state machine does not allow, seen by any recorder (must stay empty). */
const badTransitions: string[] = []

/** Records a session's transitions; `until` waits for a state (bounded). */
export function recordStates(session: Session) {
  const changes: StateChange[] = []
  session.on('state', change => {
    // Every transition is one the state machine allows (the runtime only logs a bad one).
    if (!canTransition(change.previous, change.state)) badTransitions.push(`${change.previous} → ${change.state} (${change.reason.message})`)
    changes.push(change)
  })
  return {
    changes,
    states: () => changes.map(c => c.state),
    until: (state: SessionState, after = 0, timeoutMs = WAIT_MS) =>
      eventually(() => changes.slice(after).some(c => c.state === state), `state ${state} (saw ${changes.map(c => c.state).join(' → ')})`, timeoutMs).then(() =>
        changes.slice(after).find(c => c.state === state)!
      )
  }
}

export function socketOptions(sim: Simulator): StartSessionOptions['socket'] {
  return { waWebSocketUrl: sim.url, logger: silentLogger as never, markOnlineOnConnect: false, connectTimeoutMs: 10_000, defaultQueryTimeoutMs: 15_000 }
}

/** Small delays for tests; the default table and loop limits otherwise. */
export const FAST_POLICY = { backoff: { initialMs: 20, maxMs: 100 } }

export function runtimeSuite(label: string, makeTarget: () => Promise<RuntimeTarget>): void {
  describe(`session runtime on a ${label} store`, () => {
    let sim: Simulator
    let untrust: () => void
    let target: RuntimeTarget
    let store: Store
    let dir: string
    let jid: string
    let codedJid: string

    const start = (sessionId: string, extra: Partial<StartSessionOptions> = {}) =>
      startSession({ store, sessionId, socket: socketOptions(sim), policy: FAST_POLICY, backupDir: join(dir, 'backups'), ...extra })

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'vault-runtime-'))
      sim = await startSimulator()
      untrust = trustSimulator(sim)
      target = await makeTarget()
      store = await openStore(target.url, target.options)
    })

    after(async () => {
      await store?.close()
      untrust?.()
      await sim?.stop()
      await target?.cleanup?.()
      if (dir) rmSync(dir, { recursive: true, force: true })
    })

    test('QR linking: unregistered → connecting → registering → registered → connecting → connected; creds writes coalesced', { timeout: 30_000 }, async t => {
      const session = await start('bot')
      const rec = recordStates(session)
      const sockets: unknown[] = []
      session.on('socket', sock => void sockets.push(sock))
      let scanned: Promise<{ jid: string }> | undefined
      session.on('qr', qr => void (scanned ??= sim.phone.scan(qr)))
      assert.equal(session.state, 'unregistered')
      await rec.until('connected')
      jid = (await scanned!).jid
      assert.deepEqual(rec.states(), ['connecting', 'registering', 'registered', 'connecting', 'connected'])
      assert.equal(rec.changes[2]?.reason.message.includes('pair-success'), true)
      assert.equal(sockets.length, 2, 'a socket for pairing and one after the 515 restart')
      assert.equal(session.socket, sockets[1])
      await eventually(() => sim.device(jid)?.preKeyUploads === 1, 'the first pre-key upload')
      await session.stop()
      const stats = session.stats()
      t.diagnostic(`creds during a login: ${stats.creds.saves} saveCreds calls, ${stats.creds.writes} writes, ${stats.creds.coalesced} saved by coalescing`)
      assert.ok(stats.creds.writes + stats.creds.coalesced === stats.creds.saves)
      assert.equal(stats.connections, 1)
      assert.equal(session.state, 'stopped')
      assert.equal((await store.readCreds('bot'))?.me?.id, jid, 'the pairing was persisted')
      assert.ok(sim.device(jid), 'stop never logs out')
    })

    test('messages both ways; a throwing socket handler is logged and counted and the session stays up', { timeout: 30_000 }, async () => {
      const session = await start('bot')
      const rec = recordStates(session)
      session.on('qr', () => assert.fail('a linked session must not show a QR'))
      const errors: Error[] = []
      session.on('error', err => void errors.push(err))
      session.on('socket', sock => {
        sock.ev.on('messages.upsert', () => {
          throw new Error('bug in the bot')
        })
        sock.ev.on('messages.upsert', async ({ messages, type }) => {
          if (type !== 'notify') return
          for (const m of messages) if (!m.key.fromMe && textOf(m)) await sock.sendMessage(m.key.remoteJid!, { text: `echo: ${textOf(m)}` })
        })
      })
      await rec.until('connected')
      const alice = sim.contact('15550001111', { name: 'Alice' })
      await alice.sendText('hello')
      assert.equal((await alice.nextMessage()).text, 'echo: hello')
      await alice.sendText('again')
      assert.equal((await alice.nextMessage()).text, 'echo: again')
      assert.equal(session.state, 'connected')
      await eventually(() => session.stats().messagesOut >= 2, 'own messages counted')
      const stats = session.stats()
      assert.equal(stats.messagesIn, 2)
      assert.ok(stats.listenerErrors >= 2)
      assert.equal(stats.decryptFailures, 0)
      assert.match(errors[0]?.message ?? '', /bug in the bot/)
      assert.deepEqual(alice.decryptErrors, [])
      assert.equal(session.health().ok, true)
      await session.stop()
    })

    test('515 reconnects at once; 500 backs off and reconnects; disconnects are counted by code', { timeout: 30_000 }, async () => {
      const session = await start('bot')
      const rec = recordStates(session)
      await rec.until('connected')
      let n = rec.changes.length
      assert.equal(sim.kick(jid, 'restart'), 1)
      const restart = await rec.until('disconnected', n)
      assert.equal(restart.reason.code, 515)
      await rec.until('connected', n)
      assert.doesNotMatch(restart.reason.message, /reconnect #/, 'no backoff for 515')
      n = rec.changes.length
      assert.equal(sim.kick(jid, 'badSession'), 1)
      const bad = await rec.until('disconnected', n)
      assert.equal(bad.reason.code, 500)
      assert.match(bad.reason.message, /reconnect #1 in \d+ ms/)
      await rec.until('connected', n)
      const stats = session.stats()
      assert.deepEqual(stats.disconnects, { 500: 1, 515: 1 })
      assert.equal(stats.reconnectAttempts, 2)
      assert.equal(stats.connections, 3)
      assert.ok(stats.uptimeRatio > 0 && stats.uptimeRatio <= 1)
      await session.stop()
      assert.deepEqual(rec.states().slice(-1), ['stopped'])
    })

    test('440: another client holds the account → failed with the creds kept, no fight', { timeout: 30_000 }, async () => {
      const before = await rawDriver(store).getCreds('bot')
      const session = await start('bot')
      const rec = recordStates(session)
      await rec.until('connected')
      assert.equal(sim.kick(jid, 'replaced'), 1)
      const failed = await rec.until('failed')
      assert.equal(failed.reason.code, 440)
      assert.match(failed.reason.message, /another client/)
      await new Promise(r => setTimeout(r, 100))
      assert.equal(sim.device(jid)?.online, false, 'not reconnecting')
      assert.equal(session.socket, undefined)
      const after = await store.readCreds('bot')
      assert.equal(after?.me?.id, jid, 'creds kept')
      assert.ok(before)
      await session.stop()
      assert.equal(session.state, 'stopped')
    })

    test('damaged creds → failed with CORRUPT_DATA, nothing overwritten, never a QR', { timeout: 30_000 }, async () => {
      const garbage = new Uint8Array([0x01, 0xff, 0x00, 0x13, 0x37])
      await rawDriver(store).write('torn', { creds: garbage, set: [], del: [] })
      const good = (await store.readCreds('bot'))!
      await store.write('broken', { creds: { ...good, registrationId: 99_999 } })
      const brokenBytes = await rawDriver(store).getCreds('broken')
      for (const [id, bytes] of [
        ['torn', garbage],
        ['broken', brokenBytes]
      ] as const) {
        const session = await start(id)
        const rec = recordStates(session)
        session.on('qr', () => assert.fail('damaged creds must not lead to a new QR'))
        const failed = await rec.until('failed')
        assert.match(failed.reason.message, /CORRUPT_DATA|damaged|cannot be read/)
        assert.deepEqual(rec.states(), ['failed'])
        assert.equal(session.socket, undefined)
        assert.deepEqual(Buffer.from((await rawDriver(store).getCreds(id))!), Buffer.from(bytes!), 'nothing overwritten')
        assert.equal(session.stats().lastError?.code, 'CORRUPT_DATA')
        await session.stop()
      }
      await store.drop('torn')
      await store.drop('broken')
    })

    test('pre-key repair: pre-keys committed, creds not saved (the crash window) → counters advanced, the keys kept', { timeout: 30_000 }, async () => {
      // Baileys' own upload path up to the crash: getNextPreKeys commits the pre-keys; the creds
      // update it returns is never saved.
      const auth = await store.useAuthState('bot')
      const stale = auth.state.creds.nextPreKeyId
      const { update } = await getNextPreKeys(auth.state as never, 5)
      assert.equal(update.nextPreKeyId, stale + 5)
      const ids = Array.from({ length: 5 }, (_, i) => String(stale + i))
      const committed = await store.readRaw('bot', 'pre-key', ids)
      assert.equal(committed.size, 5)
      assert.equal((await store.readCreds('bot'))?.nextPreKeyId, stale, 'the creds are from before the crash')

      // Without the repair, Baileys' next upload numbers from the stale counter and overwrites them.
      const scratch = structuredClone(auth.state.creds)
      const { update: again } = await getNextPreKeys({ creds: scratch, keys: { get: async () => ({}), set: async () => {} } } as never, 5)
      assert.equal(again.nextPreKeyId! - 5, stale, 'the next upload would reuse the committed ids')

      const session = await start('bot')
      const rec = recordStates(session)
      await rec.until('connected')
      const creds = (await store.readCreds('bot'))!
      assert.equal(creds.nextPreKeyId, stale + 5)
      assert.equal(creds.firstUnuploadedPreKeyId, stale + 5)
      await session.socket!.uploadPreKeys(5)
      const kept = await store.readRaw('bot', 'pre-key', ids)
      for (const id of ids) assert.deepEqual(kept.get(id), committed.get(id), `pre-key ${id} kept`)
      assert.equal((await store.readRaw('bot', 'pre-key', [String(stale + 5)])).size, 1, 'new pre-keys numbered after them')
      // The conversation still works.
      const bob = sim.contact('15550002222', { name: 'Bob' })
      session.on('socket', sock =>
        sock.ev.on('messages.upsert', ({ messages }) =>
          messages.forEach(m => !m.key.fromMe && textOf(m) === 'ping' && void sock.sendMessage(m.key.remoteJid!, { text: 'pong' }))
        )
      )
      await bob.sendText('ping')
      assert.equal((await bob.nextMessage()).text, 'pong')
      await session.stop()
    })

    test('pairing by code: the code is requested at the QR moment, typed on the phone; no QR event', { timeout: 30_000 }, async () => {
      const session = await start('coded', { link: { pairingCode: { phoneNumber: sim.phone.account.pn } } })
      const rec = recordStates(session)
      session.on('qr', () => assert.fail('linking by code shows no QR'))
      let entered: Promise<{ jid: string }> | undefined
      session.on('pairing-code', code => void (entered ??= sim.phone.enterCode(code)))
      await rec.until('connected')
      codedJid = (await entered!).jid
      assert.deepEqual(rec.states(), ['connecting', 'registering', 'registered', 'connecting', 'connected'])
      assert.match(rec.changes[1]?.reason.message ?? '', /pairing code/)
      assert.equal((await store.readCreds('coded'))?.me?.id, codedJid)
      await session.stop()
    })

    test('a pairing code requested but never entered (crash before linking): the next start links again instead of failing', { timeout: 30_000 }, async () => {
      const link = { pairingCode: { phoneNumber: sim.phone.account.pn } }
      const first = await start('half', { link })
      const firstRec = recordStates(first)
      await firstRec.until('registering')
      await first.stop()
      const saved = await store.readCreds('half')
      assert.ok(saved?.pairingCode && saved.me?.id && !saved.account, 'Baileys saved a half-done pairing')
      const again = await start('half', { link })
      const rec = recordStates(again)
      let entered: Promise<unknown> | undefined
      again.on('pairing-code', code => void (entered ??= sim.phone.enterCode(code)))
      await rec.until('connected')
      await entered
      await again.stop()
      await store.drop('half')
    })

    test('403 and 411 → failed with the creds kept; a new start connects without linking again', { timeout: 30_000 }, async () => {
      for (const [reason, code] of [
        ['forbidden', 403],
        ['multideviceMismatch', 411]
      ] as const) {
        const session = await start('coded')
        const rec = recordStates(session)
        session.on('qr', () => assert.fail('creds kept: no QR'))
        await rec.until('connected')
        assert.equal(sim.kick(codedJid, reason), 1)
        const failed = await rec.until('failed')
        assert.equal(failed.reason.code, code)
        assert.match(failed.reason.message, /creds are kept/)
        assert.equal((await store.readCreds('coded'))?.me?.id, codedJid)
        await session.stop()
      }
    })

    test('watchdog: a half-open connection (silenced) is ended with 408 and the session reconnects', { timeout: 30_000 }, async () => {
      const session = await start('bot', { watchdog: { timeoutMs: 400 } })
      const rec = recordStates(session)
      await rec.until('connected')
      const n = rec.changes.length
      assert.equal(sim.silence(jid, 5_000), 1)
      const lost = await rec.until('disconnected', n)
      assert.equal(lost.reason.code, 408)
      assert.match(lost.reason.message, /watchdog: no frame/)
      await rec.until('connected', n)
      assert.equal(session.stats().watchdogReconnects, 1)
      const carol = sim.contact('15550003333')
      session.on('socket', sock =>
        sock.ev.on('messages.upsert', ({ messages }) =>
          messages.forEach(m => !m.key.fromMe && textOf(m) === 'there?' && void sock.sendMessage(m.key.remoteJid!, { text: 'yes' }))
        )
      )
      await carol.sendText('there?')
      assert.equal((await carol.nextMessage()).text, 'yes')
      await session.stop()
    })

    test(
      'server restart: 428, then backoff attempts #1, #2, … while it is down, then connected; the counter resets when healthy',
      { timeout: 30_000 },
      async () => {
        const session = await start('bot', { policy: { backoff: { initialMs: 40, factor: 1.5, maxMs: 200, jitter: 0 }, healthyAfterMs: 200 } })
        const rec = recordStates(session)
        await rec.until('connected')
        const n = rec.changes.length
        await sim.restart({ downMs: 300 })
        await rec.until('connected', n)
        const waits = rec.changes.slice(n).filter(c => c.state === 'disconnected')
        assert.equal(waits[0]?.reason.code, 428)
        const attempts = waits.map(c => /reconnect #(\d+) in (\d+) ms/.exec(c.reason.message)!)
        assert.deepEqual(
          attempts.map(m => Number(m[1])),
          attempts.map((_, i) => i + 1),
          'attempts counted up'
        )
        assert.deepEqual(
          attempts.map(m => Number(m[2])),
          attempts.map((_, i) => Math.min(200, Math.round(40 * 1.5 ** i))),
          'the backoff sequence'
        )
        await eventually(() => session.health().reconnectAttempt === 0, 'the counter reset after a healthy period')
        await session.stop()
      }
    )

    test('loop detection: more closes than allowed within the window → failed with the creds kept', { timeout: 30_000 }, async () => {
      const session = await start('bot', { policy: { ...FAST_POLICY, loop: { maxFailures: 2, windowMs: 60_000 } } })
      const rec = recordStates(session)
      for (let i = 0; i < 3; i++) {
        await eventually(() => session.state === 'connected', 'connected')
        const n = rec.changes.length
        assert.equal(sim.kick(jid, 'badSession'), 1)
        await rec.until(i < 2 ? 'connected' : 'failed', n)
      }
      const failed = rec.changes.at(-1)!
      assert.equal(failed.state, 'failed')
      assert.match(failed.reason.message, /Reconnect loop: 3 closes/)
      assert.ok(await store.readCreds('bot'))
      await session.stop()
    })

    test('a server that keeps restarting is an outage: drops of settled connections do not end the session as a loop', { timeout: 30_000 }, async () => {
      const flaps = async (settledMs: number): Promise<string[]> => {
        const session = await start('bot', { policy: { ...FAST_POLICY, loop: { maxFailures: 2, windowMs: 60_000, settledMs } } })
        const rec = recordStates(session)
        for (let i = 0; i < 3 && session.state !== 'failed'; i++) {
          await eventually(() => session.state === 'connected', 'connected')
          await sleep(150) // up longer than the short settledMs below
          const n = rec.changes.length
          await sim.restart({ downMs: 50 })
          await eventually(() => rec.changes.slice(n).some(c => c.state === 'connected' || c.state === 'failed'), 'reconnected or failed')
        }
        const states = rec.states()
        await session.stop()
        return states
      }
      const outage = await flaps(100)
      assert.ok(!outage.includes('failed'), `three restarts of the server are not a loop: ${outage.join(' → ')}`)
      // Control: counting every drop (settled only after a minute), the same three restarts are a loop.
      const counted = await flaps(60_000)
      assert.equal(counted.at(-1), 'failed', `counted drops end in failed: ${counted.join(' → ')}`)
      assert.ok(await store.readCreds('bot'), 'the creds are kept')
    })

    test('createRuntime: many sessions; logout() backs up, unlinks on the server and clears', { timeout: 40_000 }, async () => {
      const runtime = createRuntime({ store, socket: socketOptions(sim), policy: FAST_POLICY, backupDir: join(dir, 'backups') })
      const second = await runtime.start('second')
      assert.equal(await runtime.start('second'), second, 'one object per session')
      const bot = await runtime.start('bot')
      const recSecond = recordStates(second)
      const recBot = recordStates(bot)
      let scanned: Promise<{ jid: string }> | undefined
      second.on('qr', qr => void (scanned ??= sim.phone.scan(qr)))
      await recSecond.until('connected')
      await recBot.until('connected')
      assert.deepEqual(
        runtime
          .sessions()
          .map(s => s.sessionId)
          .sort(),
        ['bot', 'second']
      )
      const secondJid = (await scanned!).jid
      const backups: string[] = []
      second.on('backup', ({ file }) => void backups.push(file))
      const { backup } = await second.logout()
      assert.ok(backup)
      assert.deepEqual(backups, [backup])
      assert.equal(second.state, 'unregistered')
      assert.equal((await verifyBackup(backup!, { encryption: target.options?.encryption })).trailer.sessions.second?.creds, 1)
      assert.equal(await store.readCreds('second'), undefined, 'cleared')
      await eventually(() => sim.device(secondJid) === undefined, 'the server forgot the device')
      assert.equal(bot.state, 'connected', 'the other session is untouched')
      await runtime.stop()
      assert.equal(bot.state, 'stopped')
      assert.ok(sim.device(jid), 'runtime.stop never logs out')
    })

    test('401 logged out on the phone → backup (verifyBackup accepts it), cleared, expired → unregistered', { timeout: 30_000 }, async () => {
      const session = await start('bot')
      const rec = recordStates(session)
      const backups: string[] = []
      session.on('backup', ({ file }) => void backups.push(file))
      await rec.until('connected')
      const n = rec.changes.length
      assert.equal(sim.kick(jid, 'logout'), 1)
      await rec.until('unregistered', n)
      assert.deepEqual(rec.states().slice(n), ['expired', 'unregistered'])
      assert.equal(rec.changes[n]?.reason.code, 401)
      assert.equal(backups.length, 1)
      const verified = await verifyBackup(backups[0] ?? assert.fail('a backup was written'), { encryption: target.options?.encryption })
      assert.equal(verified.sealed, !!target.options?.encryption, 'sealed when the store is encrypted')
      assert.equal(verified.trailer.sessions.bot?.creds, 1)
      assert.ok((verified.trailer.sessions.bot?.keys ?? 0) > 0)
      assert.equal(await store.readCreds('bot'), undefined)
      let keys = 0
      for await (const _ of store.listKeys('bot')) keys++
      assert.equal(keys, 0, 'the session is cleared')
      await new Promise(r => setTimeout(r, 100))
      assert.equal(session.state, 'unregistered', 'no relink unless configured')
      assert.equal(session.socket, undefined)
      await session.stop()
    })

    test('401 with relinkAfterLogout: backup, clear, then a new pairing code at once', { timeout: 30_000 }, async () => {
      const session = await start('coded', { link: { pairingCode: { phoneNumber: sim.phone.account.pn }, relinkAfterLogout: true } })
      const rec = recordStates(session)
      const codes: string[] = []
      session.on('pairing-code', code => void codes.push(code))
      await rec.until('connected')
      const n = rec.changes.length
      assert.equal(sim.kick(codedJid, 'logout'), 1)
      await rec.until('registering', n)
      assert.deepEqual(rec.states().slice(n), ['expired', 'unregistered', 'connecting', 'registering'])
      assert.equal(codes.length, 1)
      const relinked = await sim.phone.enterCode(codes[0] ?? assert.fail('a pairing code was shown'))
      await rec.until('connected', n)
      assert.notEqual(relinked.jid, codedJid, 'a new device')
      await session.stop()
    })

    test('every transition seen above is one the state machine allows', () => {
      assert.deepEqual(badTransitions, [])
    })
  })
}
