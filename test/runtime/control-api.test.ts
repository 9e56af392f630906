/**
 * The control API of `run --http --api-token` end to end, as a user drives it with `fetch`: the
 * built bin in a child process against `baileys-vault sim` in another. Sessions are created over
 * HTTP in an empty store (`run --all` keeps serving), linked by the QR PNG the API serves (read
 * with a QR reader and scanned by the simulated phone) or by a pairing code; stopped, started,
 * restarted, backed up, checked, logged out and deleted (backups first). /api/events sees every
 * state change `run --json` prints, and so does a webhook receiver that checks every signature.
 * Then the error cases (401/404/405/409/413/400) and the rate limit on wrong tokens.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { openStore } from '../../src/open-store.js'
import { verifyBackup } from '../../src/tools/restore.js'
import { API_TOKEN, apiClient, controlRun, decodeQrPng, readEvents, webhookReceiver, type Receiver } from '../helpers/control-api.js'
import { entered, spawnCli, startSimChild, type CliChild, type CliEvent, type SimChild } from '../helpers/run-child.js'
import { useTempDirs } from '../helpers/temp-dirs.js'

const SECRET = 'webhook-secret-for-tests'
const tempDir = useTempDirs('vault-control-')
/** Events without their `time`: run --json and the webhook each stamp the instant they saw the event. */
const untimed = (events: CliEvent[]) =>
  events.map(e => {
    assert.match(String(e.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, `${e.event} carries its time`)
    const { time: _time, ...rest } = e
    return rest
  })
const stateEvents = (events: CliEvent[], session: string) => events.filter(e => e.event === 'state' && e.session === session).map(e => [e.previous, e.state])

describe('the control API of run, against the simulator', () => {
  let sim: SimChild
  const children: CliChild[] = []
  const receivers: Receiver[] = []
  before(async () => {
    sim = await startSimChild()
  })
  after(async () => {
    for (const child of children) child.kill()
    for (const r of receivers) await r.close()
    await sim?.stop()
  })

  it(
    'create, QR as PNG, pairing code, stop/start/restart, backup, doctor, logout, delete; SSE and a webhook see every state change',
    { timeout: 120_000 },
    async () => {
      const dir = tempDir()
      const url = `sqlite:${join(dir, 'wa.db')}`
      const backups = join(dir, 'backups')
      const receiver = await webhookReceiver(SECRET)
      receivers.push(receiver)
      const run = spawnCli(
        ['run', url, '--all', ...sim.flags, '--http', '127.0.0.1:0', '--backup-dir', backups, '--webhook', receiver.url, '--webhook-secret', SECRET, '--json'],
        {
          env: { BAILEYS_VAULT_API_TOKEN: API_TOKEN }
        }
      )
      children.push(run)
      const { url: base } = await run.waitFor(e => e.event === 'http', { what: 'the http event' })
      const api = apiClient(base)
      const sse = await readEvents(base)

      // An empty store: run --all keeps serving, waiting for sessions made over HTTP.
      assert.deepEqual((await api.call('GET', '/api/sessions')).body, { sessions: [] })
      assert.equal((await fetch(`${base}/healthz`)).status, 200, 'the read-only routes stay open')

      // Create, then link by the PNG QR the API serves.
      const created = await api.call('POST', '/api/sessions', { body: { id: 'sales' } })
      assert.equal(created.status, 201, created.text)
      assert.equal(created.body.session, 'sales')
      assert.equal((await api.call('POST', '/api/sessions', { body: { id: 'sales' } })).status, 409, 'a running id is 409')
      await run.waitFor(e => e.event === 'qr' && e.session === 'sales', { what: 'the QR of sales' })
      const png = await api.call('GET', '/api/sessions/sales/qr', { accept: 'image/png' })
      assert.equal(png.status, 200)
      assert.equal(png.headers.get('content-type'), 'image/png')
      const qrText = decodeQrPng(png.bytes)
      assert.ok(
        run.events.some(e => e.event === 'qr' && e.qr === qrText),
        'the PNG shows a QR the session emitted'
      )
      const svg = await api.call('GET', '/api/sessions/sales/qr', { accept: 'image/svg+xml' })
      assert.equal(svg.headers.get('content-type'), 'image/svg+xml')
      assert.match(svg.text, /<svg/)
      assert.equal(typeof (await api.call('GET', '/api/sessions/sales/qr')).body.qr, 'string')
      const linking = await api.call('GET', '/api/sessions/sales')
      assert.equal(linking.body.state, 'registering')
      assert.equal(linking.body.linking.qr, true)
      const scanned = await sim.call('POST', '/scan', qrText)
      assert.equal(scanned.status, 200, JSON.stringify(scanned.body))
      await run.waitFor(e => entered('connected')(e) && e.session === 'sales', { what: 'sales connected' })
      const noQr = await api.call('GET', '/api/sessions/sales/qr', { accept: 'image/png' })
      assert.equal(noQr.status, 404)
      assert.equal(noQr.body.error.code, 'NO_QR')

      const one = (await api.call('GET', '/api/sessions/sales')).body
      assert.equal(one.state, 'connected')
      assert.equal(one.running, true)
      assert.equal(one.lease.self, true, 'this instance holds the lease')
      assert.equal(one.lease.pid, run.child.pid)
      assert.equal(one.stats.connections, 1)

      // A second session linked by a pairing code asked for over HTTP while it shows a QR.
      assert.equal((await api.call('POST', '/api/sessions', { body: { id: 'coded', pairingCode: '12ab' } })).status, 400, 'a bad phone is 400')
      assert.equal((await api.call('POST', '/api/sessions', { body: { id: 'coded' } })).status, 201)
      await run.waitFor(e => e.event === 'qr' && e.session === 'coded', { what: 'the QR of coded' })
      const code = await api.call('POST', '/api/sessions/coded/pairing-code', { body: { phone: sim.phone } })
      assert.equal(code.status, 200, code.text)
      assert.match(code.body.code, /^[A-Z0-9]{8}$/)
      assert.equal((await api.call('GET', '/api/sessions/coded')).body.linking.pairingCode, code.body.code)
      const paired = await sim.call('POST', '/pair-code', { code: code.body.code })
      assert.equal(paired.status, 200, JSON.stringify(paired.body))
      await run.waitFor(e => entered('connected')(e) && e.session === 'coded', { what: 'coded connected' })
      assert.equal((await api.call('POST', '/api/sessions/coded/pairing-code', { body: { phone: sim.phone } })).status, 409, 'no code once linked')

      // Stop, start, restart: from the stored creds, no new QR.
      const qrsBefore = run.events.filter(e => e.event === 'qr' && e.session === 'sales').length
      const stopped = await api.call('POST', '/api/sessions/sales/stop')
      assert.equal(stopped.status, 200)
      assert.equal(stopped.body.state, 'stopped')
      assert.equal(stopped.body.lease, null, 'the lease is given up on stop')
      assert.equal((await api.call('POST', '/api/sessions/sales/stop')).status, 409, 'stopping a stopped session is 409')
      let mark = run.events.length
      assert.equal((await api.call('POST', '/api/sessions/sales/start')).status, 200)
      await run.waitFor(e => entered('connected')(e) && e.session === 'sales', { from: mark, what: 'sales connected after start' })
      mark = run.events.length
      assert.equal((await api.call('POST', '/api/sessions/sales/restart')).status, 200)
      await run.waitFor(e => entered('stopped')(e) && e.session === 'sales', { from: mark, what: 'sales stopped by the restart' })
      await run.waitFor(e => entered('connected')(e) && e.session === 'sales', { from: mark, what: 'sales connected after restart' })
      assert.equal(run.events.filter(e => e.event === 'qr' && e.session === 'sales').length, qrsBefore, 'no QR after stop/start/restart')

      // Backup and doctor.
      const backup = await api.call('POST', '/api/sessions/sales/backup')
      assert.equal(backup.status, 200, backup.text)
      assert.ok(backup.body.file.startsWith(backups), backup.body.file)
      assert.ok((await verifyBackup(backup.body.file)).counts.has('sales'))
      assert.equal((await api.call('GET', '/api/sessions/sales')).body.lastBackup.file, backup.body.file)
      const doctor = await api.call('GET', '/api/sessions/sales/doctor')
      assert.equal(doctor.status, 200)
      assert.equal(doctor.body.session, 'sales')
      assert.equal(doctor.body.linked, true)
      assert.ok(Array.isArray(doctor.body.findings))

      // Logout: a backup first, then the device is gone from the phone and the session from the list.
      const codedJid = paired.body.jid
      assert.ok((await sim.call('GET', '/devices')).body.some((d: any) => d.jid === codedJid))
      const loggedOut = await api.call('POST', '/api/sessions/coded/logout')
      assert.equal(loggedOut.status, 200, loggedOut.text)
      assert.ok(existsSync(loggedOut.body.backup), 'the logout backup exists')
      assert.ok((await verifyBackup(loggedOut.body.backup)).counts.has('coded'))
      assert.ok(!(await sim.call('GET', '/devices')).body.some((d: any) => d.jid === codedJid), 'the device is gone from the phone')
      assert.equal((await api.call('GET', '/api/sessions/coded')).status, 404)

      // Delete: stop, backup, drop.
      const deleted = await api.call('DELETE', '/api/sessions/sales')
      assert.equal(deleted.status, 200, deleted.text)
      assert.ok((await verifyBackup(deleted.body.backup)).counts.has('sales'), 'the delete backup holds the session')
      assert.equal((await api.call('GET', '/api/sessions/sales')).status, 404)
      assert.deepEqual((await api.call('GET', '/api/sessions')).body, { sessions: [] })

      // Bad input.
      const noToken = await api.call('GET', '/api/sessions', { token: null })
      assert.equal(noToken.status, 401)
      assert.deepEqual(Object.keys(noToken.body), ['error'], '401 carries nothing but the error')
      assert.equal((await api.call('GET', '/api/sessions', { token: 'wrong-token-wrong-token' })).status, 401)
      assert.equal((await api.call('GET', '/api/sessions/nobody')).body.error.code, 'NOT_FOUND')
      assert.equal((await api.call('GET', '/api/sessions/nobody')).status, 404)
      assert.equal((await api.call('POST', '/api/sessions/nobody/stop')).status, 404)
      assert.equal((await api.call('GET', '/api/nothing')).status, 404)
      const put = await api.call('PUT', '/api/sessions')
      assert.equal(put.status, 405)
      assert.equal(put.headers.get('allow'), 'GET, POST')
      assert.equal((await api.call('GET', '/api/sessions/x/stop')).status, 405)
      assert.equal((await api.call('POST', '/api/sessions', { raw: '{"id":' })).body.error.code, 'INVALID_JSON')
      assert.equal((await api.call('POST', '/api/sessions', { body: { name: 'x' } })).status, 400)
      assert.equal((await api.call('GET', '/api/sessions/a%01b')).status, 400, 'a control character in an id is 400')
      const big = await api.call('POST', '/api/sessions', { raw: JSON.stringify({ id: 'x', pad: 'y'.repeat(70 * 1024) }) })
      assert.equal(big.status, 413)
      assert.equal(big.body.error.code, 'PAYLOAD_TOO_LARGE')
      for (const r of [put, big, noToken]) assert.deepEqual(Object.keys(r.body.error).sort(), ['code', 'message'])

      // Every state change run --json printed, in order, on /api/events and at the webhook.
      for (const session of ['sales', 'coded']) {
        const printed = stateEvents(run.events, session)
        assert.ok(printed.length >= 6, `${session} went through its states: ${JSON.stringify(printed)}`)
        await sse.waitFor(() => stateEvents(sse.events, session).length >= printed.length, `${session}'s states on SSE`)
        assert.deepEqual(stateEvents(sse.events, session), printed, `SSE sees every state change of ${session}`)
        const deadline = Date.now() + 30_000
        while (stateEvents(receiver.received, session).length < printed.length && Date.now() < deadline) await new Promise(r => setTimeout(r, 100))
        assert.deepEqual(stateEvents(receiver.received, session), printed, `the webhook gets every state change of ${session} in order`)
      }
      assert.equal(receiver.badSignatures, 0, 'every webhook body verifies')
      for (const kind of ['qr', 'pairing-code', 'backup'])
        assert.ok(
          sse.events.some(e => e.event === kind),
          `SSE carries ${kind} events`
        )
      const metrics = await (await fetch(`${base}/metrics`)).text()
      assert.match(metrics, /baileys_vault_webhook_deliveries_total\{result="delivered"\} [1-9]/)
      sse.close()

      // Wrong tokens from one address are refused for a while, the right one too (no oracle).
      let limited = 0
      for (let i = 0; i < 12; i++) if ((await api.call('GET', '/api/sessions', { token: `guess-${i}-0123456789` })).status === 429) limited++
      assert.ok(limited >= 1, 'repeated wrong tokens are rate-limited')
      const meanwhile = await api.call('GET', '/api/sessions')
      assert.equal(meanwhile.status, 429)
      assert.ok(Number(meanwhile.headers.get('retry-after')) > 0)

      run.kill('SIGTERM')
      assert.equal((await run.exited(20_000)).code, 0, run.stderr())
      const store = await openStore(url)
      const left: string[] = []
      for await (const s of store.sessions()) left.push(s)
      await store.close()
      assert.deepEqual(left, [], 'logout and delete left nothing in the store')
    }
  )

  it('webhooks: a receiver down for 10 s gets every event afterwards, in order; a slow receiver does not delay a reconnect', { timeout: 90_000 }, async () => {
    const dir = tempDir()
    const receiver = await webhookReceiver(SECRET)
    receivers.push(receiver)
    await receiver.close() // down from the start
    const run = spawnCli([
      ...controlRun(sim, dir, ['--api-token', API_TOKEN]),
      ...['--webhook', receiver.url, '--webhook-secret', SECRET, '--webhook-retry-max', '300ms', '--json']
    ])
    children.push(run)
    const downSince = Date.now()
    const { url: base } = await run.waitFor(e => e.event === 'http', { what: 'the http event' })
    const api = apiClient(base)
    assert.equal((await api.call('POST', '/api/sessions', { body: { id: 'main' } })).status, 201)
    await run.waitFor(e => e.event === 'qr', { what: 'the QR' })
    const scanned = await sim.call('POST', '/scan', (await api.call('GET', '/api/sessions/main/qr')).body.qr)
    assert.equal(scanned.status, 200, JSON.stringify(scanned.body))
    await run.waitFor(entered('connected'), { what: 'connected' })

    // The receiver stays down for 10 s: deliveries fail and are retried; the session is unaffected.
    await new Promise(r => setTimeout(r, Math.max(0, 10_000 - (Date.now() - downSince))))
    const whileDown = await (await fetch(`${base}/metrics`)).text()
    assert.match(whileDown, /baileys_vault_webhook_deliveries_total\{result="failed"\} [1-9]/)
    assert.doesNotMatch(whileDown, /result="delivered"\} [1-9]/)
    await receiver.listen()
    const printed = () => run.events.filter(e => e.session === 'main')
    const before = printed()
    await receiver.waitFor(before.length, 'the events of the time the receiver was down')
    assert.deepEqual(untimed(receiver.received), untimed(before), 'every event, in order, once the receiver is back')

    // A receiver that does not answer: the session reconnects while the delivery is still held.
    receiver.mode = 'hold'
    const mark = run.events.length
    assert.equal((await sim.call('POST', '/kick', { jid: scanned.body.jid, reason: 'restart' })).body.told, 1)
    await run.waitFor(entered('disconnected'), { from: mark, what: 'disconnected after the kick' })
    await run.waitFor(entered('connected'), { from: mark, what: 'connected again' })
    const deadline = Date.now() + 20_000
    while (receiver.held === 0 && Date.now() < deadline) await new Promise(r => setTimeout(r, 50))
    assert.equal(receiver.held, 1, 'the first delivery after the kick is held by the receiver, and only it')
    assert.equal(receiver.received.length, before.length, 'nothing after the kick was delivered before the session was connected again')
    receiver.release()
    await receiver.waitFor(printed().length, 'the events after the kick')
    assert.deepEqual(untimed(receiver.received), untimed(printed()), 'all of them, in order, after the slow receiver answered')
    assert.equal(receiver.badSignatures, 0)
    run.kill('SIGTERM')
    assert.equal((await run.exited(20_000)).code, 0, run.stderr())
  })

  it('without a token neither /api/ nor the page is served; --http-public needs a token; bad control flags exit 2', { timeout: 60_000 }, async () => {
    const dir = tempDir()
    const url = `sqlite:${join(dir, 'wa.db')}`
    const plain = spawnCli(['run', url, ...sim.flags, '--http', '127.0.0.1:0', '--json'], { env: { BAILEYS_VAULT_API_TOKEN: '' } })
    children.push(plain)
    const { url: base } = await plain.waitFor(e => e.event === 'http', { what: 'the http event' })
    assert.equal((await fetch(`${base}/api/sessions`, { headers: { authorization: `Bearer ${API_TOKEN}` } })).status, 404)
    assert.equal((await fetch(`${base}/`)).status, 404)
    assert.equal((await fetch(`${base}/healthz`)).status, 200)
    plain.kill('SIGTERM')
    await plain.exited(20_000)
    for (const [argv, message] of [
      [['--http', '0.0.0.0:0', '--http-public'], /--http-public needs --api-token/],
      [['--api-token', API_TOKEN], /add --http/],
      [['--http', '127.0.0.1:0', '--api-token', 'short'], /at least 16 characters/],
      [['--webhook', 'http://127.0.0.1:1/x'], /--webhook needs --webhook-secret/],
      [['--webhook', 'ftp://x', '--webhook-secret', 's'], /http:\/\/ or https:\/\//],
      [['--webhook-secret', 's'], /go with --webhook URL/]
    ] as Array<[string[], RegExp]>) {
      const bad = spawnCli(['run', url, ...argv], { env: { BAILEYS_VAULT_API_TOKEN: '' } })
      const { code } = await bad.exited(20_000)
      assert.equal(code, 2, `${argv.join(' ')}: ${bad.stderr()}`)
      assert.match(bad.stderr(), message)
    }
  })
})
