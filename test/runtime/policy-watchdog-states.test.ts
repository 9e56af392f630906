/**
 * The runtime's pure parts: the close-code policy and its backoff sequence, loop detection,
 * creds-write coalescing, the watchdog on a fake clock, the state machine, and bad options.
 * The end-to-end behaviour against the simulator is in runtime/e2e-sqlite and runtime/sigterm-mid-traffic.
 */
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { describe, mock, test } from 'node:test'
import { openStore } from '../../src/open-store.js'
import {
  createRuntime,
  startSession,
  ReconnectPolicy,
  DEFAULT_CODES,
  CredsSaver,
  canTransition,
  preflight,
  repairPreKeyCounters
} from '../../src/runtime/index.js'
import { checkCreds } from '../../src/tools/creds-check.js'
import { Curve, initAuthCreds } from '@whiskeysockets/baileys'
import { Watchdog, resolveWatchdog } from '../../src/runtime/watchdog.js'
import { handleSignals } from '../../src/runtime/signals.js'
import { silentLogger } from '../../src/runtime/logger.js'
import { isVaultError } from '../../src/core/errors.js'

const half = () => 0.5 // jitter term 0: the base delays

describe('reconnect policy', () => {
  test('the documented default per close code', () => {
    const expected: Record<number, string> = {
      515: 'restart',
      408: 'backoff',
      428: 'backoff',
      500: 'backoff',
      503: 'backoff',
      440: 'fail',
      401: 'logged-out',
      403: 'fail',
      411: 'fail'
    }
    assert.deepEqual({ ...DEFAULT_CODES }, expected)
    const policy = new ReconnectPolicy()
    for (const [code, action] of Object.entries(expected)) assert.equal(policy.actionFor(Number(code)), action, `code ${code}`)
    assert.equal(policy.actionFor(999), 'backoff', 'unknown codes back off, never delete')
    assert.equal(policy.actionFor(undefined), 'backoff')
  })

  test('backoff: 2 s × 1.8ⁿ capped at 30 s, at most 12 tries, then failed with the reason', () => {
    const policy = new ReconnectPolicy({ random: half, loop: { maxFailures: 100 } })
    const delays: number[] = []
    for (let i = 0; i < 12; i++) {
      const d = policy.decide(408, i)
      assert.equal(d.action, 'backoff')
      if (d.action === 'backoff') delays.push(d.delayMs)
    }
    assert.deepEqual(delays, [2000, 3600, 6480, 11664, 20995, 30000, 30000, 30000, 30000, 30000, 30000, 30000])
    const last = policy.decide(408, 13)
    assert.equal(last.action, 'fail')
    assert.match(last.action === 'fail' ? last.message : '', /12 reconnect attempts.*creds are kept/)
  })

  test('jitter stays within ±25 % of the base delay', () => {
    const low = new ReconnectPolicy({ random: () => 0 }).decide(500, 0)
    const high = new ReconnectPolicy({ random: () => 0.999999 }).decide(500, 0)
    assert.deepEqual([low.action === 'backoff' && low.delayMs, high.action === 'backoff' && high.delayMs], [1500, 2500])
  })

  test('a healthy connection resets the counter', () => {
    const policy = new ReconnectPolicy({ random: half })
    policy.decide(428, 0)
    policy.decide(428, 1)
    assert.equal(policy.attempts, 2)
    policy.healthy()
    const d = policy.decide(428, 2)
    assert.deepEqual(d, { action: 'backoff', delayMs: 2000, attempt: 1 })
  })

  test('connections that open and then drop never exhaust the tries: the count is of tries that never opened', () => {
    // A server restarting every half minute: each reconnect opens, and drops before it counts as healthy.
    const policy = new ReconnectPolicy({ random: half, loop: { maxFailures: 100 } })
    for (let i = 0; i < 40; i++) {
      assert.equal(policy.decide(428, i).action, 'backoff', `drop ${i + 1} after an open`)
      policy.opened()
    }
    assert.equal(policy.attempts, 40, 'the delay still grows: none of those connections was healthy')
    // Control: the same drops without an open in between give up after 12.
    const never = new ReconnectPolicy({ random: half, loop: { maxFailures: 100 } })
    const actions = Array.from({ length: 13 }, (_, i) => never.decide(428, i).action)
    assert.deepEqual([actions.at(11), actions.at(12)], ['backoff', 'fail'])
  })

  test('515 reconnects at once and does not count as a backoff attempt', () => {
    const policy = new ReconnectPolicy()
    assert.deepEqual(policy.decide(515, 0), { action: 'restart' })
    assert.equal(policy.attempts, 0)
  })

  test('loop detection: more than N closes in the window → fail; older closes fall out of the window', () => {
    const policy = new ReconnectPolicy({ random: half, loop: { maxFailures: 3, windowMs: 1000 } })
    for (let i = 0; i < 3; i++) assert.notEqual(policy.decide(515, i).action, 'fail')
    const looped = policy.decide(515, 3)
    assert.equal(looped.action, 'fail')
    assert.match(looped.action === 'fail' ? looped.message : '', /Reconnect loop: 4 closes within 1000 ms.*creds are kept/)
    const spaced = new ReconnectPolicy({ loop: { maxFailures: 3, windowMs: 1000 } })
    for (let i = 0; i < 10; i++) assert.equal(spaced.decide(515, i * 600).action, 'restart')
  })

  test('a server restarting every 20 s is an outage, not a loop: settled transport drops are not counted and start the delays over; drops soon after login and server verdicts count; tries that never opened are bounded by the tries in a row', () => {
    // 40 drops, 20 s apart, each of a connection that had been up 12 s: far more than 10 in 5 minutes.
    const flapping = new ReconnectPolicy({ random: half })
    for (let i = 0; i < 40; i++) {
      for (const code of [428, 408]) {
        // The connection proved the path works: the first reconnect comes after initialMs again.
        const d = flapping.decide(code, i * 20_000, { openForMs: 12_000 })
        assert.deepEqual(d, { action: 'backoff', delayMs: 2000, attempt: 1 }, `drop ${i + 1} (${code}) after 12 s up`)
      }
      flapping.opened()
    }
    // Control: the same drops 2 s after each login are a loop.
    const soonAfterLogin = new ReconnectPolicy({ random: half })
    const early = Array.from({ length: 11 }, (_, i) => soonAfterLogin.decide(428, i * 20_000, { openForMs: 2_000 }))
    const tenth = early.at(9)!
    assert.equal(tenth.action === 'backoff' && tenth.attempt, 10, 'drops soon after login keep growing the delay')
    const looped = early.at(10)!
    assert.deepEqual([tenth.action, looped.action], ['backoff', 'fail'])
    assert.match(looped.action === 'fail' ? looped.message : '', /Reconnect loop: 11 closes/)
    // Tries that never opened (the server or network is down) are not a loop: the tries in a row bound them.
    const neverOpened = new ReconnectPolicy({ random: half })
    const down = Array.from({ length: 13 }, (_, i) => neverOpened.decide(428, i * 20_000))
    assert.deepEqual([down.at(10)!.action, down.at(11)!.action, down.at(12)!.action], ['backoff', 'backoff', 'fail'])
    const gaveUp = down.at(12)!
    assert.match(gaveUp.action === 'fail' ? gaveUp.message : '', /Gave up after 12 reconnect attempts/)
    // A close the server gives a reason for counts however long the connection was up.
    const verdicts = new ReconnectPolicy({ random: half })
    assert.equal(Array.from({ length: 11 }, (_, i) => verdicts.decide(500, i * 20_000, { openForMs: 12_000 }).action).at(10), 'fail')
    // The threshold is an option.
    const strict = new ReconnectPolicy({ random: half, loop: { settledMs: 15_000 } })
    assert.equal(Array.from({ length: 11 }, (_, i) => strict.decide(428, i * 20_000, { openForMs: 12_000 }).action).at(10), 'fail')
  })

  test('440 fails at once by default; set to backoff, a repeating 440 fails as a fight over the account', () => {
    const d = new ReconnectPolicy().decide(440, 0)
    assert.equal(d.action, 'fail')
    assert.match(d.action === 'fail' ? d.message : '', /another client/)
    const lenient = new ReconnectPolicy({ codes: { 440: 'backoff' }, random: half })
    assert.equal(lenient.decide(440, 0).action, 'backoff')
    const second = lenient.decide(440, 10)
    assert.equal(second.action, 'fail')
    assert.match(second.action === 'fail' ? second.message : '', /replaced \(440\) 2 times/)
  })

  test('codes are configurable; bad policy options are INVALID_ARGUMENT', () => {
    assert.equal(new ReconnectPolicy({ codes: { 503: 'fail' } }).actionFor(503), 'fail')
    for (const bad of [
      { codes: { 5: 'restart' } },
      { codes: { 500: 'explode' } },
      { backoff: { initialMs: -1 } },
      { backoff: { factor: 0.5 } },
      { backoff: { jitter: 1 } },
      { backoff: { maxAttempts: 1.5 } },
      { loop: { settledMs: -1 } },
      { backoff: { initialMs: 10, maxMs: 5 } },
      { otherCodes: 'x' }
    ]) {
      assert.throws(
        () => new ReconnectPolicy(bad as never),
        (err: unknown) => isVaultError(err, 'INVALID_ARGUMENT'),
        JSON.stringify(bad)
      )
    }
  })
})

describe('creds coalescing', () => {
  test('saves during an in-flight write coalesce into one write of the newest snapshot; each caller waits for a snapshot at least as new as its own', async () => {
    let version = 0
    const durable: number[] = []
    const gates: Array<() => void> = []
    const saver = new CredsSaver(async () => {
      const snapshot = version // taken when the write starts, as saveCreds encodes at call time
      await new Promise<void>(resolve => gates.push(resolve))
      durable.push(snapshot)
    })
    const resolvedAt: Record<string, number> = {}
    const call = (name: string) => saver.save().then(() => (resolvedAt[name] = durable.at(-1) ?? NaN))
    version = 1
    const a = call('a')
    version = 2
    const b = call('b')
    version = 3
    const c = call('c')
    version = 4
    const d = call('d')
    assert.equal(gates.length, 1, 'one write in flight')
    gates.shift()!()
    await a
    assert.equal(resolvedAt.a, 1)
    await new Promise(r => setImmediate(r))
    assert.equal(gates.length, 1, 'b, c and d share the second write')
    gates.shift()!()
    await Promise.all([b, c, d])
    assert.deepEqual(durable, [1, 4])
    assert.deepEqual(resolvedAt, { a: 1, b: 4, c: 4, d: 4 })
    assert.deepEqual({ calls: saver.calls, writes: saver.writes, coalesced: saver.coalesced }, { calls: 4, writes: 2, coalesced: 2 })
  })

  test('a failed write rejects the callers that waited for it; the next save writes again', async () => {
    let fail = true
    const saver = new CredsSaver(async () => {
      await new Promise(r => setImmediate(r))
      if (fail) throw new Error('disk full')
    })
    const first = saver.save()
    const joined = saver.save()
    await assert.rejects(first, /disk full/)
    await assert.rejects(joined, /disk full/)
    fail = false
    await saver.save()
    await saver.idle()
    assert.equal(saver.writes, 3)
  })
})

describe('watchdog (fake clock)', () => {
  function fakeSocket() {
    const frames = new EventEmitter()
    const pings: number[] = []
    let answer = true
    const killed: string[] = []
    return {
      frames,
      pings,
      killed,
      setAnswer: (v: boolean) => (answer = v),
      socket: {
        onFrame: (l: () => void) => void frames.on('frame', l),
        onMessage: (l: () => void) => void frames.on('message', l),
        ping: async () => {
          pings.push(Date.now())
          if (answer) frames.emit('frame')
          else throw new Error('no pong')
        },
        kill: (m: string) => void killed.push(m)
      }
    }
  }

  test('a connection that stops sending frames is killed after timeoutMs; a ping comes first at half of it', () => {
    mock.timers.enable({ apis: ['setInterval', 'Date'], now: 0 })
    try {
      const fake = fakeSocket()
      fake.setAnswer(false)
      let reported = ''
      const dog = new Watchdog(resolveWatchdog({ timeoutMs: 1000 }), fake.socket, m => (reported = m))
      dog.start()
      mock.timers.tick(250)
      fake.frames.emit('frame') // traffic keeps it alive
      mock.timers.tick(250)
      assert.deepEqual(fake.pings, [], 'no ping while frames arrive')
      mock.timers.tick(250) // 500 ms quiet since the frame at 250: half the timeout
      assert.equal(fake.pings.length, 1, 'quiet for half the timeout: one ping')
      assert.deepEqual(fake.killed, [])
      mock.timers.tick(500)
      assert.equal(fake.killed.length, 1)
      assert.match(reported, /no frame from the server for 1000 ms/)
      mock.timers.tick(5000)
      assert.equal(fake.killed.length, 1, 'killed once, then the watchdog is off')
    } finally {
      mock.timers.reset()
    }
  })

  test('a healthy idle connection answers the ping and stays up', () => {
    mock.timers.enable({ apis: ['setInterval', 'Date'], now: 0 })
    try {
      const fake = fakeSocket()
      const dog = new Watchdog(resolveWatchdog({ timeoutMs: 1000 }), fake.socket, () => undefined)
      dog.start()
      for (let i = 0; i < 40; i++) mock.timers.tick(250)
      assert.deepEqual(fake.killed, [])
      assert.ok(fake.pings.length >= 5)
      dog.stop()
    } finally {
      mock.timers.reset()
    }
  })

  test('silence: no message for silenceMs → a ping; unanswered → killed', async () => {
    mock.timers.enable({ apis: ['setInterval', 'Date'], now: 0 })
    try {
      const fake = fakeSocket()
      const dog = new Watchdog(resolveWatchdog({ timeoutMs: 0, silenceMs: 400, pingTimeoutMs: 100 }), fake.socket, () => undefined)
      dog.start()
      mock.timers.tick(400)
      assert.equal(fake.pings.length, 1)
      await new Promise(r => setImmediate(r))
      assert.deepEqual(fake.killed, [], 'answered: stays up')
      fake.setAnswer(false)
      mock.timers.tick(400)
      await new Promise(r => setImmediate(r))
      assert.equal(fake.killed.length, 1)
      assert.match(fake.killed[0] ?? '', /ping went unanswered/)
    } finally {
      mock.timers.reset()
    }
  })

  test('bad watchdog options are INVALID_ARGUMENT', () => {
    for (const bad of [{ timeoutMs: -1 }, { timeoutMs: 50 }, { silenceMs: Number.NaN }]) {
      assert.throws(
        () => resolveWatchdog(bad),
        (err: unknown) => isVaultError(err, 'INVALID_ARGUMENT')
      )
    }
  })
})

describe('states', () => {
  test('the guide’s machine: allowed and refused transitions', () => {
    const allowed: Array<[string, string]> = [
      ['unregistered', 'connecting'],
      ['connecting', 'registering'],
      ['registering', 'registered'],
      ['registered', 'connecting'],
      ['connecting', 'connected'],
      ['connected', 'disconnected'],
      ['disconnected', 'connecting'],
      ['connected', 'expired'],
      ['expired', 'unregistered'],
      ['registered', 'unregistered'],
      ['connected', 'failed'],
      ['disconnected', 'stopped'],
      ['failed', 'stopped']
    ]
    for (const [a, b] of allowed) assert.equal(canTransition(a as never, b as never), true, `${a} → ${b}`)
    const refused: Array<[string, string]> = [
      ['stopped', 'connecting'],
      ['failed', 'connecting'],
      ['unregistered', 'connected'],
      ['expired', 'connected'],
      ['connected', 'registering']
    ]
    for (const [a, b] of refused) assert.equal(canTransition(a as never, b as never), false, `${a} → ${b}`)
  })
})

describe('bad options', () => {
  test('startSession and createRuntime refuse invalid options with INVALID_ARGUMENT before connecting', async () => {
    const store = await openStore('memory:runtime-units-bad')
    try {
      const invalid = (err: unknown) => isVaultError(err, 'INVALID_ARGUMENT')
      await assert.rejects(startSession(undefined as never), invalid)
      await assert.rejects(startSession({ store: {} as never, sessionId: 'a' }), invalid)
      await assert.rejects(startSession({ store, sessionId: '' }), invalid)
      await assert.rejects(startSession({ store, sessionId: 'a', link: { pairingCode: { phoneNumber: '+1 555' } } }), invalid)
      await assert.rejects(startSession({ store, sessionId: 'a', socket: { auth: {} } as never }), invalid)
      await assert.rejects(startSession({ store, sessionId: 'a', policy: { backoff: { factor: -2 } } }), invalid)
      await assert.rejects(startSession({ store, sessionId: 'a', watchdog: { timeoutMs: -5 } }), invalid)
      await assert.rejects(startSession({ store, sessionId: 'a', stopDeadlineMs: -1 }), invalid)
      assert.throws(() => createRuntime({ store, backupDir: '' }), invalid)
      const runtime = createRuntime({ store })
      await assert.rejects(runtime.start('\u0000'), invalid)
      await runtime.stop()
      await assert.rejects(runtime.start('late'), invalid)
    } finally {
      await store.close()
    }
  })
})

describe('signals', () => {
  test('the first SIGTERM stops gracefully, a second one forces the exit (130); the handlers are removed after', async () => {
    const exits: Array<number | undefined> = []
    const exit = mock.method(process, 'exit', ((code?: number) => void exits.push(code)) as never)
    try {
      let finish!: () => void
      let stops = 0
      const before = process.listenerCount('SIGTERM')
      const uninstall = handleSignals(() => {
        stops++
        return new Promise<void>(resolve => (finish = resolve))
      }, silentLogger)
      process.emit('SIGTERM')
      assert.equal(stops, 1)
      assert.deepEqual(exits, [], 'waits for the graceful stop')
      process.emit('SIGINT')
      assert.deepEqual(exits, [130], 'second signal forces the exit')
      finish()
      await new Promise(r => setImmediate(r))
      assert.deepEqual(exits, [130, 0], 'the graceful stop, once done, exits 0')
      uninstall()
      assert.equal(process.listenerCount('SIGTERM'), before)
    } finally {
      exit.mock.restore()
    }
  })
})

describe('preflight: cheap before every connect', () => {
  const pair = () => Curve.generateKeyPair()
  const preKeys = (ids: number[]) => ids.map(id => ['pre-key', String(id), pair()] as [string, string, unknown])

  test('counters consistent with the stored pre-keys: no repair, and the pre-keys are not listed', async () => {
    const store = await openStore('memory:preflight-consistent')
    try {
      const creds = { ...initAuthCreds(), nextPreKeyId: 31, firstUnuploadedPreKeyId: 31 }
      await store.write('s', { creds, set: preKeys(Array.from({ length: 30 }, (_, i) => i + 1)) })
      const listKeys = mock.method(store, 'listKeys')
      assert.equal(await repairPreKeyCounters(store, 's', creds), undefined)
      assert.equal(listKeys.mock.callCount(), 0, 'one read at the counter, not a listing of every pre-key')
      assert.equal((await store.readCreds('s'))!.nextPreKeyId, 31)
    } finally {
      await store.close()
    }
  })

  test('the crash window with the first ids of the batch already consumed is still repaired', async () => {
    const store = await openStore('memory:preflight-window')
    try {
      const creds = { ...initAuthCreds(), nextPreKeyId: 31, firstUnuploadedPreKeyId: 31 }
      // Batch 31..38 committed, creds not saved; 31..33 consumed by contacts' first messages since.
      await store.write('s', { creds, set: preKeys([...Array.from({ length: 30 }, (_, i) => i + 1), 34, 35, 36, 37, 38]) })
      assert.deepEqual(await repairPreKeyCounters(store, 's', creds), { from: 31, to: 39, ahead: 5 })
      const saved = (await store.readCreds('s'))!
      assert.equal(saved.nextPreKeyId, 39)
      assert.equal(saved.firstUnuploadedPreKeyId, 39)
    } finally {
      await store.close()
    }
  })

  test('signatures are left to doctor: preflight passes creds whose signed pre-key signature is wrong; checkCreds reports it', async () => {
    const store = await openStore('memory:preflight-signature')
    try {
      const fresh = initAuthCreds()
      const creds = { ...fresh, signedPreKey: { ...fresh.signedPreKey, signature: new Uint8Array(64).fill(7) } }
      await store.write('s', { creds })
      assert.deepEqual(await preflight(store, 's'), { ok: true, linked: false, repair: undefined })
      assert.ok(checkCreds(creds).some(f => f.code === 'SIGNED_PRE_KEY_SIGNATURE_INVALID'))
    } finally {
      await store.close()
    }
  })
})
