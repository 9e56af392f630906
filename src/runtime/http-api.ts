/**
 * The control API of a runtime, as a request handler to mount on any node:http server (`run
 * --http --api-token` mounts it on the health server):
 *
 *   GET    /                               the dashboard page (no data in it)
 *   GET    /api/sessions                   every session: state, since, reason, lease owner, stats, last backup
 *   POST   /api/sessions                   { id, pairingCode? } → 201: starts it here (linking if new); 409 if running
 *   GET    /api/sessions/:id               one session
 *   DELETE /api/sessions/:id               stop, backup, then drop
 *   GET    /api/sessions/:id/qr            the pending QR: image/png, image/svg+xml (by Accept) or { qr }
 *   POST   /api/sessions/:id/pairing-code  { phone } → { code }
 *   POST   /api/sessions/:id/start|stop|restart|logout|backup
 *   GET    /api/sessions/:id/doctor        the doctor's findings
 *   GET    /api/events                     Server-Sent Events (the objects of `run --json`)
 *
 * Every /api/ route needs `Authorization: Bearer <token>`. Handlers only call the runtime's
 * public methods. docs/openapi.json describes the same routes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import QRCode from 'qrcode'
import { invalidArgument } from '../core/errors.js'
import { assertSessionId } from '../store/validate.js'
import { serveDashboard } from './dashboard.js'
import { tokenGuard, MIN_TOKEN_LENGTH, type AuthLimitOptions } from './http-auth.js'
import { HttpError, badRequest, readFields, sendError, sendJson } from './http-io.js'
import type { Runtime } from './runtime.js'
import { serveEvents } from './sse.js'

export interface ControlApiOptions {
  runtime: Runtime
  /** The bearer token every /api/ call must send (at least 16 characters). */
  token: string
  /** Rate limit of wrong tokens per client address. */
  authLimit?: AuthLimitOptions
  /** SSE heartbeat interval. Default 15 s. */
  heartbeatMs?: number
}

/** Resolves true when it answered the request, false for a path it does not serve. */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>

type Action = (id: string, req: IncomingMessage, res: ServerResponse) => Promise<void>

const PHONE = { required: true, what: 'the phone number in digits with country code, e.g. "15551234567"', pattern: /^\d{6,15}$/ }

export function createControlApi(options: ControlApiOptions): RequestHandler {
  const { runtime } = options
  if (typeof options.token !== 'string' || options.token.length < MIN_TOKEN_LENGTH)
    throw invalidArgument(`The API token must be at least ${MIN_TOKEN_LENGTH} characters (e.g. openssl rand -hex 24).`)
  const authorize = tokenGuard(options.token, options.authLimit)
  const known = (id: string) => runtime.report(id)

  const collection: Record<string, (req: IncomingMessage, res: ServerResponse) => Promise<void>> = {
    GET: async (_req, res) => sendJson(res, 200, { sessions: await runtime.report() }),
    POST: async (req, res) => {
      const body = await readFields(req, { id: { required: true, what: 'the session id' }, pairingCode: { ...PHONE, required: false } })
      const id = sessionId(body.id!)
      const link = body.pairingCode === undefined ? undefined : { pairingCode: { phoneNumber: body.pairingCode } }
      await runtime.create(id, link ? { link } : {})
      sendJson(res, 201, await runtime.report(id))
    }
  }

  const one: Record<string, Action> = {
    GET: async (id, _req, res) => sendJson(res, 200, await runtime.report(id)),
    DELETE: async (id, _req, res) => sendJson(res, 200, { deleted: id, ...(await runtime.delete(id)) })
  }

  const lifecycle = (verb: (id: string) => Promise<unknown>): { method: string; run: Action } => ({
    method: 'POST',
    run: async (id, _req, res) => {
      await known(id)
      await verb(id)
      sendJson(res, 200, await runtime.report(id))
    }
  })
  const actions: Record<string, { method: string; run: Action }> = {
    qr: { method: 'GET', run: (id, req, res) => sendQr(runtime, id, req, res) },
    doctor: { method: 'GET', run: async (id, _req, res) => sendJson(res, 200, await runtime.doctor(id)) },
    'pairing-code': {
      method: 'POST',
      run: async (id, req, res) => {
        const { phone } = await readFields(req, { phone: PHONE })
        await known(id)
        sendJson(res, 200, { code: await runtime.requestPairingCode(id, phone!) })
      }
    },
    // A known session (404 otherwise), the verb, then the session as it is now.
    start: lifecycle(id => runtime.create(id)),
    stop: lifecycle(id => runtime.stopSession(id)),
    restart: lifecycle(id => runtime.restart(id)),
    logout: {
      method: 'POST',
      run: async (id, _req, res) => {
        await known(id)
        sendJson(res, 200, { loggedOut: id, ...(await runtime.logout(id)) })
      }
    },
    backup: { method: 'POST', run: async (id, _req, res) => sendJson(res, 200, await runtime.backup(id)) }
  }

  const route = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
    const auth = authorize(req)
    if (!auth.ok) {
      if (auth.status === 429)
        throw new HttpError(429, 'TOO_MANY_FAILURES', 'Too many wrong tokens from this address; wait and try again.', {
          'retry-after': String(auth.retryAfterSec)
        })
      throw new HttpError(401, 'UNAUTHORIZED', 'Send Authorization: Bearer <the API token>.', { 'www-authenticate': 'Bearer' })
    }
    const parts = path.split('/').slice(2) // '', 'api', …
    const [root, rawId, actionName] = parts
    const method = req.method ?? 'GET'
    if (parts.length === 1 && root === 'events') {
      allow(method, ['GET'])
      return serveEvents(runtime.events, req, res, { heartbeatMs: options.heartbeatMs })
    }
    if (root !== 'sessions' || parts.length > 3) throw notFound(path)
    if (rawId === undefined) return handlerOf(collection, method)(req, res)
    const id = sessionId(decode(rawId))
    if (actionName === undefined) return handlerOf(one, method)(id, req, res)
    const action = Object.hasOwn(actions, actionName) ? actions[actionName] : undefined
    if (!action) throw notFound(path)
    allow(method, [action.method])
    return action.run(id, req, res)
  }

  return async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname
    if (path === '/') {
      if (req.method !== 'GET' && req.method !== 'HEAD') sendError(res, methodNotAllowed(['GET']))
      else serveDashboard(res)
      return true
    }
    if (path !== '/api' && !path.startsWith('/api/')) return false
    await route(req, res, path).catch(err => sendError(res, err))
    return true
  }
}

async function sendQr(runtime: Runtime, id: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  await runtime.report(id) // 404 for an unknown session
  const qr = runtime.qr(id)
  if (qr === undefined) throw new HttpError(404, 'NO_QR', `Session "${id}" shows no QR now (it is linked, linking by code, or not running).`)
  const accept = String(req.headers.accept ?? '')
  if (accept.includes('image/png')) {
    const png = await QRCode.toBuffer(qr, { type: 'png', margin: 2, scale: 6, errorCorrectionLevel: 'L' })
    res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'no-store' })
    return void res.end(png)
  }
  if (accept.includes('image/svg+xml')) {
    const svg = await QRCode.toString(qr, { type: 'svg', margin: 2, errorCorrectionLevel: 'L' })
    res.writeHead(200, { 'content-type': 'image/svg+xml', 'cache-control': 'no-store' })
    return void res.end(svg)
  }
  sendJson(res, 200, { qr })
}

function sessionId(id: string): string {
  try {
    assertSessionId(id)
  } catch (err) {
    throw badRequest((err as Error).message)
  }
  return id
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part)
  } catch {
    throw badRequest('The session id in the path is not valid percent-encoding.')
  }
}

function allow(method: string, methods: string[]): void {
  if (!methods.includes(method)) throw methodNotAllowed(methods)
}

/** The handler of `method` in a route's table, else 405 naming the methods the route takes. */
function handlerOf<T>(table: Record<string, T>, method: string): T {
  const handler = Object.hasOwn(table, method) ? table[method] : undefined
  if (handler === undefined) throw methodNotAllowed(Object.keys(table))
  return handler
}

const methodNotAllowed = (methods: string[]) =>
  new HttpError(405, 'METHOD_NOT_ALLOWED', `This route takes ${methods.join(', ')}.`, { allow: methods.join(', ') })

const notFound = (path: string) => new HttpError(404, 'NOT_FOUND', `No route ${path}; see docs/openapi.json for the routes.`)
