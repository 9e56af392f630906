import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { VaultError, invalidArgument } from '../core/errors.js'
import type { VaultMetrics } from './metrics.js'

/**
 * The health and metrics endpoint of a runtime: GET /healthz, /readyz, /sessions, /metrics.
 * Loopback by default; another address only with `allowNonLoopback` (it serves session ids and
 * states to whoever can reach it). Bodies carry states, times and counters: no secret, no
 * message text, no phone number beyond the session id.
 */
export interface SessionReport {
  session: string
  state: string
  /** ISO time the session entered its state. */
  since: string
  lastDisconnect?: { code?: number; message?: string; at: string }
  stats?: object
  /** The store failed for this session and no write has committed since: not ready, whatever the state. */
  storeProblem?: { code: string; since: string }
}

export interface HealthSource {
  sessions(): SessionReport[]
  /** States in which a session counts as ready (connected, or deliberately not running). */
  readyStates: ReadonlySet<string>
  metrics?: VaultMetrics
  /** True while sessions are still being started: /readyz is 503 then, never vacuously ready. */
  starting?: () => boolean
  /** More routes, asked first (the control API, http-api.ts): resolves true when it answered. */
  routes?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>
}

export interface ListenOptions {
  host?: string
  port?: number
  /** Required to bind anything but loopback. */
  allowNonLoopback?: boolean
  /** Told once when a non-loopback address is bound. */
  warn?: (message: string) => void
}

export interface HealthServer {
  readonly url: string
  readonly port: number
  close(): Promise<void>
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$/

export function isLoopback(host: string): boolean {
  return LOOPBACK.test(host)
}

/** Parses `--http 127.0.0.1:9464`, `--http :9464` or `--http 9464` into host and port. */
export function parseListenAddress(text: string): { host: string; port: number } {
  const value = String(text).trim()
  const match = /^(?:(?:\[([^\]]+)\]|([^:[\]]*)):)?(\d{1,5})$/.exec(value)
  const port = match ? Number(match[3]) : NaN
  if (!match || port > 65535) {
    throw invalidArgument(`--http takes host:port (e.g. 127.0.0.1:9464) or a port; got ${JSON.stringify(text)}.`)
  }
  return { host: match[1] ?? (match[2] || '127.0.0.1'), port }
}

export async function listenHealth(source: HealthSource, options: ListenOptions = {}): Promise<HealthServer> {
  const host = options.host ?? '127.0.0.1'
  const port = options.port ?? 9464
  if (!isLoopback(host)) {
    if (!options.allowNonLoopback) {
      throw invalidArgument(
        `The health endpoint binds loopback only; ${host} needs allowNonLoopback (CLI: --http-public). It shows session ids and states to anyone who can reach it.`
      )
    }
    options.warn?.(`health endpoint on non-loopback address ${host}: anyone who can reach it sees session ids and states`)
  }
  const server = createServer((req, res) => {
    handle(source, req, res).catch(err => send(res, 500, { error: err instanceof VaultError ? err.code : 'INTERNAL' }))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', err => {
      const code = (err as NodeJS.ErrnoException).code
      reject(
        code === 'EADDRINUSE'
          ? invalidArgument(`Port ${port} on ${host} is already in use; choose another with --http host:port.`)
          : new VaultError('BACKEND_UNAVAILABLE', `The health endpoint could not listen on ${host}:${port}: ${err.message}`, { cause: err })
      )
    })
    server.listen(port, host, () => resolve())
  })
  const bound = (server.address() as AddressInfo).port
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}`,
    port: bound,
    close: () => new Promise<void>(resolve => server.close(() => resolve()).closeAllConnections())
  }
}

const ROUTES = new Set(['/healthz', '/readyz', '/sessions', '/metrics'])

async function handle(source: HealthSource, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (source.routes && (await source.routes(req, res))) return
  const path = new URL(req.url ?? '/', 'http://localhost').pathname
  if (!ROUTES.has(path)) return send(res, 404, { error: 'NOT_FOUND', routes: [...ROUTES] })
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD')
    return send(res, 405, { error: 'METHOD_NOT_ALLOWED' })
  }
  switch (path) {
    case '/healthz':
      return send(res, 200, { status: 'ok' })
    case '/readyz': {
      const sessions = source.sessions()
      const starting = source.starting?.() === true
      const isReady = (s: SessionReport) => source.readyStates.has(s.state) && !s.storeProblem
      const ready = !starting && sessions.every(isReady)
      const body = {
        ready,
        ...(starting ? { starting } : {}),
        sessions: sessions.map(s => ({ session: s.session, state: s.state, ready: isReady(s), ...(s.storeProblem ? { storeProblem: s.storeProblem } : {}) }))
      }
      return send(res, ready ? 200 : 503, body)
    }
    case '/sessions':
      return send(res, 200, { sessions: source.sessions() })
    case '/metrics': {
      if (!source.metrics) return send(res, 404, { error: 'NOT_FOUND', message: 'metrics are not enabled' })
      res.writeHead(200, { 'content-type': source.metrics.contentType })
      res.end(await source.metrics.text())
    }
  }
}

function send(res: ServerResponse, status: number, body: object): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' })
  res.end(JSON.stringify(body))
}
