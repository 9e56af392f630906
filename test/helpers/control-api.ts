/**
 * What the control-API tests use as a user would: `fetch` with the bearer token, an SSE reader
 * on /api/events, a webhook receiver that checks every signature, and a QR reader (pngjs +
 * jsqr) for the PNG the API or the dashboard shows.
 */
import assert from 'node:assert/strict'
import { createHmac, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import jsQRModule from 'jsqr'
import { PNG } from 'pngjs'

// jsqr is CommonJS with `exports.default`: under NodeNext the default import is the module object.
const jsQR = (jsQRModule as unknown as { default: typeof jsQRModule.default }).default ?? jsQRModule

export const API_TOKEN = 'test-token-0123456789abcdef'

/** `run` on a new SQLite store in `dir`, all sessions (none yet), against the simulator, HTTP on a free port. */
export const controlRun = (sim: { flags: string[] }, dir: string, extra: string[] = []): string[] => [
  'run',
  `sqlite:${join(dir, 'wa.db')}`,
  '--all',
  ...sim.flags,
  '--http',
  '127.0.0.1:0',
  ...extra
]

export interface Api {
  call(
    method: string,
    path: string,
    options?: { body?: unknown; raw?: string; accept?: string; token?: string | null }
  ): Promise<{ status: number; body: any; text: string; bytes: Buffer; headers: Headers }>
  /** Every response text so far (the secrets scan reads them). */
  readonly seen: string[]
}

export function apiClient(base: string, token = API_TOKEN): Api {
  const seen: string[] = []
  return {
    seen,
    async call(method, path, options = {}) {
      const headers: Record<string, string> = {}
      const auth = options.token === undefined ? token : options.token
      if (auth !== null) headers.authorization = `Bearer ${auth}`
      if (options.accept) headers.accept = options.accept
      const body = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body))
      if (body !== undefined) headers['content-type'] = 'application/json'
      const res = await fetch(base + path, { method, headers, body, signal: AbortSignal.timeout(30_000) })
      const bytes = Buffer.from(await res.arrayBuffer())
      const text = bytes.toString('utf8')
      if (!res.headers.get('content-type')?.startsWith('image/png')) seen.push(text)
      let parsed: unknown
      try {
        parsed = JSON.parse(text)
      } catch {
        parsed = undefined
      }
      return { status: res.status, body: parsed, text, bytes, headers: res.headers }
    }
  }
}

/** Reads the QR code in a PNG image; throws when there is none. */
export function decodeQrPng(png: Buffer): string {
  const image = PNG.sync.read(png)
  const found = jsQR(new Uint8ClampedArray(image.data.buffer, image.data.byteOffset, image.data.length), image.width, image.height)
  assert.ok(found, 'the image holds a readable QR code')
  return found.data
}

export interface EventReader {
  readonly events: any[]
  readonly raw: string[]
  waitFor(match: (e: any) => boolean, what: string, timeoutMs?: number): Promise<any>
  close(): void
}

/** Reads /api/events as an SSE client would (data: lines of JSON, blank line between events). */
export async function readEvents(base: string, token = API_TOKEN): Promise<EventReader> {
  const abort = new AbortController()
  const res = await fetch(`${base}/api/events`, { headers: { authorization: `Bearer ${token}` }, signal: abort.signal })
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/)
  const events: any[] = []
  const raw: string[] = []
  const waiters = new Set<() => void>()
  void (async () => {
    let buffer = ''
    try {
      for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) {
        buffer += chunk
        let end: number
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          raw.push(block)
          const data = block
            .split('\n')
            .filter(l => l.startsWith('data: '))
            .map(l => l.slice(6))
            .join('\n')
          if (data) events.push(JSON.parse(data))
          waiters.forEach(w => w())
        }
      }
    } catch {
      // closed by the test
    }
  })()
  return {
    events,
    raw,
    close: () => abort.abort(),
    waitFor: (match, what, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const found = events.find(match)
          if (!found) return
          clearTimeout(timer)
          waiters.delete(check)
          resolve(found)
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`timed out waiting for ${what} on /api/events; got ${JSON.stringify(events)}`))
        }, timeoutMs)
        waiters.add(check)
        check()
      })
  }
}

export interface Receiver {
  readonly url: string
  readonly port: number
  /** Verified bodies, in the order they arrived. */
  readonly received: any[]
  /** Raw bodies (for the secrets scan). */
  readonly bodies: string[]
  /** Requests whose signature did not verify. */
  readonly badSignatures: number
  /** Requests waiting for an answer while held. */
  readonly held: number
  /** hold: requests get no answer until release(); fail: answered 500. */
  mode: 'ok' | 'hold' | 'fail'
  release(): void
  waitFor(count: number, what: string, timeoutMs?: number): Promise<void>
  listen(): Promise<void>
  close(): Promise<void>
}

export const verifySignature = (secret: string, body: string, header: string | undefined): boolean => {
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`)
  const given = Buffer.from(header ?? '')
  return given.length === expected.length && timingSafeEqual(given, expected)
}

/** A webhook receiver on `port` (0: any free one); `listen()` can be called late to simulate a receiver that was down. */
export async function webhookReceiver(secret: string, port = 0): Promise<Receiver> {
  const received: any[] = []
  const bodies: string[] = []
  let bad = 0
  let holding: Array<() => void> = []
  const waiters = new Set<() => void>()
  let server: Server | undefined
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', c => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      const answer = () => {
        if (self.mode === 'fail') {
          res.writeHead(500).end()
          return
        }
        if (!verifySignature(secret, body, req.headers['x-baileys-vault-signature'] as string | undefined)) {
          bad++
          res.writeHead(401).end()
          return
        }
        bodies.push(body)
        received.push(JSON.parse(body))
        res.writeHead(204).end()
        waiters.forEach(w => w())
      }
      if (self.mode === 'hold') holding.push(answer)
      else answer()
    })
  }
  // Reserve a free port by listening once, then close if it should start down.
  const probe = createServer(handler)
  await new Promise<void>(resolve => probe.listen(port, '127.0.0.1', resolve))
  const bound = (probe.address() as AddressInfo).port
  server = probe
  const self: Receiver = {
    url: `http://127.0.0.1:${bound}/hook`,
    port: bound,
    received,
    bodies,
    get badSignatures() {
      return bad
    },
    get held() {
      return holding.length
    },
    mode: 'ok',
    release() {
      const answers = holding
      holding = []
      self.mode = 'ok'
      answers.forEach(a => a())
    },
    waitFor: (count, what, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (received.length < count) return
          clearTimeout(timer)
          waiters.delete(check)
          resolve()
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`timed out waiting for ${what}: ${received.length} of ${count} webhook bodies`))
        }, timeoutMs)
        waiters.add(check)
        check()
      }),
    async listen() {
      if (server) return
      server = createServer(handler)
      await new Promise<void>(resolve => server!.listen(bound, '127.0.0.1', resolve))
    },
    async close() {
      const s = server
      server = undefined
      if (s) await new Promise<void>(resolve => s.close(() => resolve()).closeAllConnections())
    }
  }
  return self
}
