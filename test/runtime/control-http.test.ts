/**
 * The control API's pieces without WhatsApp: the token guard (constant-time compare, rate
 * limit on a fake clock), the routes of docs/openapi.json against a real handler on loopback
 * (a runtime over a memory store, no session started), body limits and methods, and the
 * webhook queue (signature, in-order retries with backoff, a bounded queue that drops the oldest).
 */
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { openStore } from '../../src/open-store.js'
import { EventFeed } from '../../src/runtime/event-feed.js'
import { createControlApi } from '../../src/runtime/http-api.js'
import { tokenGuard } from '../../src/runtime/http-auth.js'
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js'
import { signBody, startWebhooks, type DeliveryResult } from '../../src/runtime/webhooks.js'

const TOKEN = 'unit-token-0123456789'
const OPENAPI = JSON.parse(readFileSync(fileURLToPath(new URL('../../../docs/openapi.json', import.meta.url)), 'utf8'))
const request = (authorization?: string, address = '127.0.0.1') =>
  ({ headers: authorization ? { authorization } : {}, socket: { remoteAddress: address } }) as unknown as IncomingMessage

const listen = async (server: Server) => {
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

describe('token guard', () => {
  it('accepts only the exact bearer token, and refuses an address after repeated failures until the window passes', () => {
    let now = 0
    const guard = tokenGuard(TOKEN, { maxFailures: 3, windowMs: 1000 }, () => now)
    assert.deepEqual(guard(request(`Bearer ${TOKEN}`)), { ok: true })
    for (const bad of [undefined, TOKEN, `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, `bearer ${TOKEN}`])
      assert.equal(guard(request(bad, `10.0.0.${String(bad).length}`)).ok, false, `refused: ${bad}`)
    for (let i = 0; i < 3; i++) assert.equal((guard(request('Bearer nope')) as { status: number }).status, 401)
    const limited = guard(request(`Bearer ${TOKEN}`))
    assert.equal((limited as { status: number }).status, 429, 'even the right token waits: no oracle while limited')
    assert.equal(guard(request(`Bearer ${TOKEN}`, '127.0.0.2')).ok, true, 'another address is not affected')
    now = 1000
    assert.deepEqual(guard(request(`Bearer ${TOKEN}`)), { ok: true }, 'the window passed')
  })
})

describe('control API routes (no session started)', () => {
  let runtime: Runtime
  let server: Server
  let base: string
  before(async () => {
    runtime = createRuntime({ store: await openStore('memory:') })
    const api = createControlApi({ runtime, token: TOKEN })
    server = createServer((req, res) => void api(req, res).then(done => done || res.writeHead(418).end()))
    base = await listen(server)
  })
  after(async () => {
    server.closeAllConnections()
    server.close()
    await runtime.stop()
    await runtime.store.close()
  })
  const call = (method: string, path: string, init: RequestInit = {}) =>
    fetch(base + path, { method, ...init, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...init.headers } })

  it('refuses a short token', () => {
    assert.throws(() => createControlApi({ runtime, token: 'short' }), /at least 16/)
  })

  it('every route of docs/openapi.json is served (an unknown session is 404 NOT_FOUND, never "no route" or 405)', async () => {
    let checked = 0
    for (const [path, item] of Object.entries<Record<string, unknown>>(OPENAPI.paths)) {
      for (const method of Object.keys(item).filter(m => ['get', 'post', 'delete'].includes(m))) {
        if (path === '/api/events') continue // a stream: checked below
        const res = await call(method.toUpperCase(), path.replace('{id}', 'nobody'), method === 'get' || method === 'delete' ? {} : { body: '{}' })
        const body = res.headers.get('content-type')?.includes('json') ? ((await res.json()) as any) : undefined
        assert.notEqual(res.status, 405, `${method} ${path}`)
        assert.notEqual(res.status, 418, `${method} ${path} is handled`)
        if (res.status === 404) assert.doesNotMatch(body.error.message, /No route/, `${method} ${path}`)
        checked++
      }
    }
    assert.ok(checked >= 13, `checked ${checked} operations`)
    const events = await call('GET', '/api/events')
    assert.match(events.headers.get('content-type') ?? '', /^text\/event-stream/)
    await events.body?.cancel()
    assert.equal((await fetch(`${base}/nowhere`)).status, 418, 'paths outside / and /api/ are left to the host server')
    assert.match(await (await fetch(`${base}/`)).text(), /<title>baileys-vault<\/title>/, 'the page is served without a token')
  })

  it('bad bodies, methods and ids', async () => {
    const big = await call('POST', '/api/sessions', { body: 'x'.repeat(64 * 1024 + 1) })
    assert.equal(big.status, 413)
    const exact = await call('POST', '/api/sessions', { body: `{"id":${JSON.stringify('a'.repeat(64 * 1024 - 9))}}` })
    assert.equal(exact.status, 400, 'a 64 KiB body is read (and this one has a bad id)')
    assert.equal((await call('POST', '/api/sessions', { body: '[1]' })).status, 400)
    assert.equal((await call('POST', '/api/sessions', { body: '{"id":5}' })).status, 400)
    assert.equal((await call('POST', '/api/sessions/x/pairing-code', { body: '{"phone":"+1 555"}' })).status, 400)
    const wrong = await call('DELETE', '/api/events')
    assert.equal(wrong.status, 405)
    assert.equal(wrong.headers.get('allow'), 'GET')
    assert.equal((await call('POST', '/')).status, 405)
    assert.equal((await call('GET', '/api/sessions/%E0%A4%A')).status, 400)
  })
})

describe('webhooks', () => {
  it('signs each body, retries failures with backoff in order, and drops the oldest when the queue is full', async () => {
    const got: Array<{ body: string; signature: string }> = []
    let failFirst = 2
    let hold: Array<() => void> | undefined
    const server = createServer((req, res) => {
      let body = ''
      req.on('data', c => (body += c))
      req.on('end', () => {
        const answer = () => {
          if (failFirst-- > 0) return void res.writeHead(503).end()
          got.push({ body, signature: String(req.headers['x-baileys-vault-signature']) })
          res.writeHead(200).end()
        }
        if (hold) hold.push(answer)
        else answer()
      })
    })
    const base = await listen(server)
    const feed = new EventFeed()
    const results: DeliveryResult[] = []
    const hooks = startWebhooks({ feed, urls: [`${base}/hook`], secret: 's3', retryFirstMs: 5, retryMaxMs: 20, queueSize: 3, onResult: r => results.push(r) })
    try {
      for (let i = 0; i < 3; i++) feed.publish({ event: 'state', session: 'a', n: i })
      while (got.length < 3) await new Promise(r => setTimeout(r, 5))
      assert.deepEqual(
        got.map(g => JSON.parse(g.body).n),
        [0, 1, 2]
      )
      for (const g of got) assert.equal(g.signature, `sha256=${createHmac('sha256', 's3').update(g.body).digest('hex')}`)
      assert.equal(signBody('s3', got[0]?.body ?? ''), got[0]?.signature)
      assert.deepEqual(results.slice(0, 2), ['failed', 'failed'])

      // A receiver that holds its answers: the queue keeps 3, the oldest waiting ones go.
      while (hooks.pending() > 0) await new Promise(r => setTimeout(r, 5))
      hold = []
      for (let i = 3; i < 10; i++) feed.publish({ event: 'state', session: 'a', n: i })
      assert.equal(results.filter(r => r === 'dropped').length, 4)
      assert.equal(hooks.pending(), 3)
      while (hold.length === 0) await new Promise(r => setTimeout(r, 5))
      const waiting = hold
      hold = undefined
      waiting.forEach(a => a())
      while (got.length < 6) await new Promise(r => setTimeout(r, 5))
      assert.deepEqual(
        got.map(g => JSON.parse(g.body).n),
        [0, 1, 2, 3, 8, 9],
        'the one in flight is kept, then the newest'
      )
    } finally {
      await hooks.stop(100)
      server.closeAllConnections()
      server.close()
    }
  })
})
