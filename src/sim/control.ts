/**
 * A small HTTP control API on the simulator's port, for bots tested from another process
 * (`baileys-vault sim`): scan a QR, enter a pairing code, kick, silence or restart, talk as a
 * contact. Loopback only, JSON only.
 *
 *   GET  /                                   { url, rootPublicKey, phone }
 *   POST /scan              "<qr text>"      { jid, lid, deviceId }
 *   POST /admin/mock-phone/scan-qr "<qr text>"  the same (the path Baileys' own e2e suite posts to)
 *   GET  /accounts                           [{ pn, lid, pushName, devices }]
 *   POST /pair-code         { code }         { jid, lid, deviceId }      (404: no device waits with it)
 *   GET  /devices                            [{ jid, lid, online, preKeyCount, liveConnections, kicks, … }]
 *   GET  /handshakes                         { inFlight, peak, total }  (connections not yet past login/pair-device)
 *   POST /handshakes/reset                   { inFlight, peak, total }  (peak starts again from inFlight)
 *   POST /kick              { jid, reason }  { told }
 *   POST /silence           { jid, ms }      { silenced }
 *   POST /restart           { downMs? }      { restarting: true }         (answered, then restarts)
 *   POST /contacts/:pn/send { text, to? }    { id, types, devices }
 *   GET  /contacts/:pn/next?timeoutMs=5000   { id, from, type, text }
 *   POST /contacts/:pn/retry { id }          { to }       (the contact asks the device for message id again)
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { isVaultError } from '../core/errors.js'
import type { Contact } from './contact.js'
import { KICK_REASONS, type KickReason } from './kicks.js'
import type { Phone } from './phone.js'
import type { AccountInfo, DeviceInfo } from './state.js'

/** What the control API needs from the simulator (the server implements it). */
export interface ControlHost {
  readonly phone: Phone
  describe(): Record<string, unknown>
  accountInfos(): AccountInfo[]
  deviceInfos(): DeviceInfo[]
  handshakes(options?: { resetPeak?: boolean }): { inFlight: number; peak: number; total: number }
  kick(jid: string, reason: KickReason): number
  silence(jid: string, ms: number): number
  restart(downMs?: number, options?: { after?: Promise<void> }): Promise<void>
  contact(pn: string): Contact
}

const MAX_BODY = 64 * 1024

/** A reply sent before `action` runs (a restart must not cut its own answer off). */
class ThenRun {
  constructor(
    readonly body: unknown,
    readonly action: () => void
  ) {}
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string
  ) {
    super(message)
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  let size = 0
  const chunks: Buffer[] = []
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_BODY) throw new HttpError(413, 'body too large')
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  return parseObject(await readBody(req))
}

function parseObject(text: string): Record<string, unknown> {
  try {
    const value = JSON.parse(text)
    if (value && typeof value === 'object' && !Array.isArray(value)) return value
  } catch {
    // fall through to the 400 below
  }
  throw new HttpError(400, 'expected a JSON object')
}

export function controlHandler(server: ControlHost) {
  const route = async (req: IncomingMessage): Promise<unknown> => {
    const url = new URL(req.url ?? '/', 'http://sim')
    const parts = url.pathname.split('/').filter(Boolean)
    const method = req.method ?? 'GET'
    if (method === 'GET' && parts.length === 0) return server.describe()
    if (method === 'GET' && parts[0] === 'devices' && parts.length === 1) return server.deviceInfos()
    if (method === 'GET' && parts[0] === 'accounts' && parts.length === 1) return server.accountInfos()
    if (method === 'GET' && parts[0] === 'handshakes' && parts.length === 1) return server.handshakes()
    if (method === 'POST' && parts[0] === 'handshakes' && parts[1] === 'reset' && parts.length === 2) return server.handshakes({ resetPeak: true })
    const isScan = (parts[0] === 'scan' && parts.length === 1) || url.pathname === '/admin/mock-phone/scan-qr'
    if (method === 'POST' && isScan) {
      const body = (await readBody(req)).trim()
      const qr = body.startsWith('{') ? String((JSON.parse(body) as { qr?: unknown }).qr ?? '') : body
      return server.phone.scan(qr)
    }
    if (method === 'POST' && parts[0] === 'kick' && parts.length === 1) {
      const { jid, reason } = await readJson(req)
      if (typeof jid !== 'string' || !KICK_REASONS.includes(reason as KickReason)) {
        throw new HttpError(400, `expected { jid, reason: ${KICK_REASONS.join(' | ')} }`)
      }
      return { told: server.kick(jid, reason as KickReason) }
    }
    if (method === 'POST' && parts[0] === 'pair-code' && parts.length === 1) {
      const { code } = await readJson(req)
      if (typeof code !== 'string') throw new HttpError(400, 'expected { code: "ABCD1234" }')
      return server.phone.enterCode(code)
    }
    if (method === 'POST' && parts[0] === 'silence' && parts.length === 1) {
      const { jid, ms } = await readJson(req)
      if (typeof jid !== 'string' || typeof ms !== 'number') throw new HttpError(400, 'expected { jid, ms }')
      return { silenced: server.silence(jid, ms) }
    }
    if (method === 'POST' && parts[0] === 'restart' && parts.length === 1) {
      const body = (await readBody(req)).trim()
      const { downMs } = body ? parseObject(body) : { downMs: undefined }
      if (downMs !== undefined && typeof downMs !== 'number') throw new HttpError(400, 'expected { downMs? }')
      let answered!: () => void
      // Validated now (a bad downMs is a 400); closes only once this answer has gone out.
      server.restart(downMs, { after: new Promise<void>(resolve => (answered = resolve)) }).catch(() => undefined)
      return new ThenRun({ restarting: true }, answered)
    }
    const [, pn, contactAction] = parts
    if (parts[0] === 'contacts' && parts.length === 3 && pn !== undefined && /^\d{5,15}$/.test(pn)) {
      const contact = server.contact(pn)
      if (method === 'POST' && contactAction === 'send') {
        const { text, to } = await readJson(req)
        if (typeof text !== 'string' || (to !== undefined && typeof to !== 'string')) throw new HttpError(400, 'expected { text, to? }')
        return contact.sendText(text, { to })
      }
      if (method === 'POST' && contactAction === 'retry') {
        const { id } = await readJson(req)
        if (typeof id !== 'string' || id === '') throw new HttpError(400, 'expected { id } of a message the contact received')
        return contact.requestRetry(id)
      }
      if (method === 'GET' && contactAction === 'next') {
        const timeoutMs = Math.min(Number(url.searchParams.get('timeoutMs') ?? 5_000) || 5_000, 60_000)
        try {
          const { id, from, type, text } = await contact.nextMessage(timeoutMs)
          return { id, from, type, text }
        } catch {
          throw new HttpError(408, `no message for ${contact.pn} within ${timeoutMs} ms`)
        }
      }
    }
    throw new HttpError(404, `no route ${method} ${url.pathname}`)
  }

  return (req: IncomingMessage, res: ServerResponse): void => {
    route(req).then(
      body => (body instanceof ThenRun ? send(res, 200, body.body, body.action) : send(res, 200, body)),
      err => {
        const status = err instanceof HttpError ? err.status : isVaultError(err, 'NOT_FOUND') ? 404 : isVaultError(err) ? 400 : 500
        send(res, status, { error: (err as Error).message })
      }
    )
  }
}

function send(res: ServerResponse, status: number, body: unknown, then?: () => void): void {
  if (res.headersSent) return
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text, then)
}
