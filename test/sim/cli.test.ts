/**
 * `baileys-vault sim`: runs until aborted, prints the URL and root key, and a bot in another
 * "process" (here: driven only through the printed URL and the HTTP control API) pairs, talks
 * to a contact and gets logged out. Loopback only; every wait is bounded.
 */
import assert from 'node:assert/strict'
import { request as httpsRequest } from 'node:https'
import { test } from 'node:test'
import { DisconnectReason } from '@whiskeysockets/baileys'
import { buildCli } from '../../src/cli/build-cli.js'
import { openStore } from '../../src/open-store.js'
import { trustSimulator } from '../../src/sim/index.js'
import { connectClient, textOf } from '../helpers/sim-client.js'

function capture() {
  let text = ''
  return {
    write: (chunk: string) => void (text += chunk),
    get text() {
      return text
    }
  }
}

async function until<T>(fn: () => T | undefined, what: string, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = fn()
    if (value !== undefined) return value
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await new Promise(r => setTimeout(r, 20))
  }
}

test('baileys-vault sim serves a bot end to end through its URL and control API', { timeout: 60_000 }, async () => {
  const stdout = capture()
  const stderr = capture()
  const abort = new AbortController()
  const exit = buildCli(['sim', '--port', '0', '--host', '127.0.0.1'], { stdout, stderr, signal: abort.signal })
  const url = await until(() => /listening on (ws:\/\/127\.0\.0\.1:\d+)/.exec(stdout.text)?.[1], 'the printed URL')
  const rootKey = /root key: ([0-9a-f]{64})/.exec(stdout.text)?.[1]
  assert.ok(rootKey, 'the root key is printed')
  const control = url.replace('ws://', 'http://')
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(control + path, {
      method,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000)
    })
    return { status: res.status, body: (await res.json()) as any }
  }

  const untrust = trustSimulator(Buffer.from(rootKey, 'hex'))
  const store = await openStore('memory:sim-cli')
  try {
    const info = await call('GET', '/')
    assert.equal(info.body.url, url)
    assert.equal(info.body.rootPublicKey, rootKey)

    const auth = await store.useAuthState('bot')
    const scans: Array<Promise<{ status: number; body: any }>> = []
    const pairing = connectClient({ url, auth, onQr: qr => void (scans.length || scans.push(call('POST', '/scan', qr))) })
    assert.equal(await pairing.waitForClose(10_000), DisconnectReason.restartRequired)
    await pairing.end()
    const scanned = await scans[0]
    assert.equal(scanned?.status, 200)
    const jid: string = scanned?.body.jid

    const bot = connectClient({ url, auth, onQr: () => assert.fail('no QR after pairing') })
    await bot.waitForOpen(10_000)
    assert.deepEqual(
      (await call('GET', '/devices')).body.map((d: { jid: string }) => d.jid),
      [jid]
    )

    const sent = await call('POST', '/contacts/15550006666/send', { text: 'ping' })
    assert.equal(sent.status, 200)
    const msg = await bot.nextMessage()
    assert.equal(textOf(msg), 'ping')
    await bot.sock.sendMessage(msg.key.remoteJid!, { text: 'pong' })
    const reply = await call('GET', '/contacts/15550006666/next?timeoutMs=5000')
    assert.equal(reply.status, 200)
    assert.equal(reply.body.text, 'pong')

    // Errors are answered, not fatal.
    assert.equal((await call('POST', '/scan', 'not a qr')).status, 400)
    assert.equal((await call('POST', '/kick', '{oops')).status, 400)
    assert.equal((await call('GET', '/nowhere')).status, 404)
    assert.equal((await call('GET', '/contacts/15550006666/next?timeoutMs=50')).status, 408)

    assert.deepEqual((await call('POST', '/kick', { jid, reason: 'logout' })).body, { told: 1 })
    assert.equal(await bot.waitForClose(10_000), DisconnectReason.loggedOut)
    await bot.end()
    assert.deepEqual((await call('GET', '/devices')).body, [])
  } finally {
    untrust()
    await store.close()
    abort.abort()
  }
  assert.equal(await exit, 0)
  assert.equal(stderr.text, '')
  await assert.rejects(fetch(control, { signal: AbortSignal.timeout(2_000) }), 'the port is closed after the abort')
})

test('baileys-vault sim refuses non-loopback hosts, bad ports and unknown options', { timeout: 10_000 }, async () => {
  for (const args of [
    ['--host', '0.0.0.0'],
    ['--host', '192.168.1.10'],
    ['--port', 'abc'],
    ['--port', '70000'],
    ['--bogus'],
    ['--tls=yes'],
    ['--accounts', 'many'],
    ['--delivery-delay', '-1']
  ]) {
    const stderr = capture()
    const code = await buildCli(['sim', ...args], { stdout: capture(), stderr, signal: AbortSignal.timeout(5_000) })
    assert.equal(code, 2, `sim ${args.join(' ')} is a usage error`)
    assert.ok(stderr.text.length > 0)
  }
})

test('baileys-vault sim --tls serves wss:// on /ws/chat and the scan-qr route over https', { timeout: 30_000 }, async () => {
  const stdout = capture()
  const abort = new AbortController()
  const exit = buildCli(['sim', '--tls', '--port', '0'], { stdout, stderr: capture(), signal: abort.signal })
  try {
    const url = await until(() => /listening on (wss:\/\/127\.0\.0\.1:\d+\/ws\/chat)/.exec(stdout.text)?.[1], 'the printed wss URL', 20_000)
    assert.match(stdout.text, /POST https:\/\/127\.0\.0\.1:\d+\/admin\/mock-phone\/scan-qr/)
    const base = new URL(url.replace('wss://', 'https://'))
    const post = (path: string, body: string) =>
      new Promise<{ status: number; body: any }>((resolve, reject) => {
        const req = httpsRequest({ host: base.hostname, port: base.port, path, method: 'POST', rejectUnauthorized: false }, res => {
          let text = ''
          res.on('data', chunk => (text += chunk))
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }))
        })
        req.on('error', reject)
        req.end(body)
      })
    // The alias reads the raw QR text as /scan does: a QR no client shows is a clear 400, not a 404.
    const scanned = await post('/admin/mock-phone/scan-qr', 'not a qr')
    assert.equal(scanned.status, 400)
    assert.match(scanned.body.error, /Not a WhatsApp linking QR code/)
    assert.equal((await post('/nowhere', '')).status, 404)
  } finally {
    abort.abort()
  }
  assert.equal(await exit, 0)
})
