import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { describe, it } from 'node:test'
import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import { listenHealth, parseListenAddress, type HealthSource, type SessionReport } from '../../src/runtime/http.js'
import { createMetrics } from '../../src/runtime/metrics.js'

const STATES = ['unregistered', 'registering', 'connecting', 'connected', 'disconnected', 'failed', 'stopped']

async function source(reports: SessionReport[]): Promise<HealthSource> {
  const metrics = await createMetrics({ states: STATES })
  for (const r of reports) metrics.setState(r.session, r.state)
  return { sessions: () => reports, readyStates: new Set(['connected', 'stopped']), metrics }
}

const since = new Date(0).toISOString()

describe('health and metrics endpoint', () => {
  it('answers /healthz, /readyz (200 only when every session is connected or stopped), /sessions; 404 and 405', async () => {
    const reports: SessionReport[] = [
      { session: 'a', state: 'connected', since },
      { session: 'b', state: 'stopped', since }
    ]
    const server = await listenHealth(await source(reports), { port: 0 })
    try {
      assert.equal((await fetch(`${server.url}/healthz`)).status, 200)
      assert.equal((await fetch(`${server.url}/readyz`)).status, 200)
      reports.push({ session: 'c', state: 'disconnected', since, lastDisconnect: { code: 408, message: 'timed out', at: since } })
      const notReady = await fetch(`${server.url}/readyz`)
      assert.equal(notReady.status, 503)
      const body = await notReady.json()
      assert.deepEqual(
        body.sessions.find((s: { session: string }) => s.session === 'c'),
        { session: 'c', state: 'disconnected', ready: false }
      )
      const sessions = await (await fetch(`${server.url}/sessions`)).json()
      assert.equal(sessions.sessions.length, 3)
      assert.equal(sessions.sessions[2].lastDisconnect.code, 408)
      assert.equal((await fetch(`${server.url}/nope`)).status, 404)
      const post = await fetch(`${server.url}/healthz`, { method: 'POST' })
      assert.equal(post.status, 405)
      assert.equal(post.headers.get('allow'), 'GET, HEAD')
    } finally {
      await server.close()
    }
  })

  it('serves every documented metric in the Prometheus text format', async () => {
    const src = await source([{ session: 'main', state: 'connected', since }])
    const m = src.metrics!
    m.connected('main')
    m.disconnected('main', '408')
    m.reconnectAttempt('main')
    m.message('main', 'in')
    m.message('main', 'out')
    m.decryptFailure('main')
    m.storeWrite('sqlite', 0.002)
    m.storeError('sqlite', 'BACKEND_UNAVAILABLE')
    m.backupTaken('main', new Date(1_700_000_000_000))
    m.setState('main', 'disconnected')
    const server = await listenHealth(src, { port: 0 })
    try {
      const res = await fetch(`${server.url}/metrics`)
      assert.equal(res.status, 200)
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain/)
      const families = parsePrometheusTextFormat(await res.text()) as Array<{
        name: string
        type: string
        metrics: Array<{ labels?: Record<string, string>; value?: string; buckets?: object }>
      }>
      const byName = new Map(families.map(f => [f.name, f]))
      const value = (name: string, labels: Record<string, string>) =>
        byName.get(name)?.metrics.find(s => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v))?.value
      assert.equal(value('baileys_vault_session_state', { session: 'main', state: 'disconnected' }), '1')
      assert.equal(value('baileys_vault_session_state', { session: 'main', state: 'connected' }), undefined, 'the old state series is gone')
      assert.equal(value('baileys_vault_sessions', { state: 'disconnected' }), '1')
      assert.equal(value('baileys_vault_sessions', { state: 'connected' }), '0')
      assert.equal(value('baileys_vault_connections_total', { session: 'main' }), '1')
      assert.equal(value('baileys_vault_disconnects_total', { session: 'main', reason: '408' }), '1')
      assert.equal(value('baileys_vault_reconnect_attempts_total', { session: 'main' }), '1')
      assert.equal(value('baileys_vault_messages_total', { session: 'main', direction: 'out' }), '1')
      assert.equal(value('baileys_vault_decrypt_failures_total', { session: 'main' }), '1')
      assert.equal(value('baileys_vault_store_errors_total', { driver: 'sqlite', code: 'BACKEND_UNAVAILABLE' }), '1')
      assert.equal(value('baileys_vault_last_backup_timestamp_seconds', { session: 'main' }), '1700000000')
      assert.equal(byName.get('baileys_vault_store_write_seconds')?.type, 'HISTOGRAM')
    } finally {
      await server.close()
    }
  })

  it('/readyz answers 503 while the sessions are still starting (the endpoint is up before them)', async () => {
    let starting = true
    const server = await listenHealth({ ...(await source([])), starting: () => starting }, { port: 0 })
    try {
      const early = await fetch(`${server.url}/readyz`)
      assert.equal(early.status, 503)
      assert.deepEqual(await early.json(), { ready: false, starting: true, sessions: [] })
      starting = false
      assert.equal((await fetch(`${server.url}/readyz`)).status, 200)
    } finally {
      await server.close()
    }
  })

  it('refuses a non-loopback address unless allowed, and a port in use, with clear errors', async () => {
    const src = await source([])
    await assert.rejects(listenHealth(src, { host: '0.0.0.0', port: 0 }), { code: 'INVALID_ARGUMENT', message: /loopback/ })
    const blocker = createServer()
    await new Promise<void>(r => blocker.listen(0, '127.0.0.1', () => r()))
    const port = (blocker.address() as { port: number }).port
    try {
      await assert.rejects(listenHealth(src, { port }), { code: 'INVALID_ARGUMENT', message: new RegExp(`Port ${port}.*in use`) })
    } finally {
      blocker.close()
    }
    assert.deepEqual(parseListenAddress('127.0.0.1:9464'), { host: '127.0.0.1', port: 9464 })
    assert.deepEqual(parseListenAddress('9464'), { host: '127.0.0.1', port: 9464 })
    assert.deepEqual(parseListenAddress('[::1]:80'), { host: '::1', port: 80 })
    for (const bad of ['', 'abc', '1.2.3.4:99999', 'host:']) assert.throws(() => parseListenAddress(bad), { code: 'INVALID_ARGUMENT' }, bad)
  })
})
