/**
 * Drives a real Baileys socket against the simulator for the end-to-end tests: event capture,
 * bounded waits (a hang fails fast) and a clean end.
 */
import makeWASocket, {
  type AuthenticationState,
  type ConnectionState,
  type SignalKeyStore,
  type UserFacingSocketConfig,
  type WAMessage,
  type WASocket
} from '@whiskeysockets/baileys'
import { promisify } from 'node:util'
import { pino } from 'pino'
import { isLibsignalChatter } from '../../src/sim/contact.js'

export const silentLogger = pino({ level: 'silent' })

// The client's libsignal prints whole session records (private keys included) on console.info
// when a session is replaced; keep those out of test logs, let everything else through.
for (const level of ['info', 'warn'] as const) {
  const original = console[level]
  console[level] = (...args: unknown[]) => void (isLibsignalChatter(args) || original.apply(console, args))
}

// Baileys 7.0.0-rc14 never clears the 30 s timeout it races against each pre-key upload
// (socket.js uploadPreKeys), and a query still in flight when the socket ends keeps its timeout
// (end() drops the close listeners first). Both would keep a test process alive for up to 30 s
// after its last client. Timers of exactly those lengths are unref'd: they still fire while the
// process is alive.
const UPLOAD_TIMEOUT_MS = 30_000
const QUERY_TIMEOUT_MS = 15_000
const originalSetTimeout = globalThis.setTimeout
globalThis.setTimeout = Object.assign(
  (fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const timer = originalSetTimeout(fn, ms, ...args)
    if (ms === UPLOAD_TIMEOUT_MS || ms === QUERY_TIMEOUT_MS) timer.unref()
    return timer
  },
  { [promisify.custom]: (originalSetTimeout as unknown as Record<symbol, unknown>)[promisify.custom] }
) as unknown as typeof setTimeout

export interface ClientOptions {
  url: string
  auth: { state: AuthenticationState; saveCreds: () => Promise<void> }
  /** Called with each QR the client shows (pairing). */
  onQr?: (qr: string) => void
  /** More makeWASocket options (e.g. a short keepAliveIntervalMs). */
  config?: Partial<UserFacingSocketConfig>
}

export interface Client {
  sock: WASocket
  qrs: string[]
  /** Messages received through messages.upsert (type notify), in order. */
  received: WAMessage[]
  /** Number of creds.update events persisted. */
  credsSaves: number
  /** Errors from saveCreds and key writes (a test asserts there are none). */
  saveErrors: unknown[]
  waitForOpen(timeoutMs?: number): Promise<void>
  /** Resolves with lastDisconnect's status code. */
  waitForClose(timeoutMs?: number): Promise<number | undefined>
  /** The first received message not yet taken. */
  nextMessage(timeoutMs?: number): Promise<WAMessage>
  /** Closes the socket (if open) and waits for pending creds and key writes. */
  end(): Promise<void>
}

export const textOf = (msg: WAMessage): string | undefined => msg.message?.conversation ?? msg.message?.extendedTextMessage?.text ?? undefined

/**
 * The test bots' behaviour: answer every incoming text with `echo: <text>`, reporting each one
 * before and after the reply (the parent process waits on these reports).
 */
export function echoTexts(sock: WASocket, report: (event: { type: 'received' | 'replied'; text: string }) => void): void {
  sock.ev.on('messages.upsert', async ({ messages, type }) => {
    if (type !== 'notify') return
    for (const msg of messages) {
      const text = textOf(msg)
      if (msg.key.fromMe || text === undefined) continue
      report({ type: 'received', text })
      await sock.sendMessage(msg.key.remoteJid!, { text: `echo: ${text}` })
      report({ type: 'replied', text })
    }
  })
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
    })
  ]).finally(() => clearTimeout(timer))
}

/**
 * Baileys keeps working on keys for a moment after end() (own-LID migration, a message being
 * decrypted). The keys are watched so end() can wait until they are idle before the test closes
 * the store; a key write failing meanwhile is recorded like a failed saveCreds.
 */
function watchKeys(keys: SignalKeyStore, saveErrors: unknown[]) {
  let inflight = 0
  let lastActivity = Date.now()
  const track = <T>(result: T | Promise<T>): Promise<T> => {
    inflight++
    return Promise.resolve(result).finally(() => {
      inflight--
      lastActivity = Date.now()
    })
  }
  const watched = new Proxy(keys, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver)
      if (prop === 'get') return (...args: Parameters<SignalKeyStore['get']>) => track(target.get(...args))
      if (prop === 'set') {
        return (...args: Parameters<SignalKeyStore['set']>) =>
          track(target.set(...args)).catch(err => {
            saveErrors.push(err)
            throw err
          })
      }
      return value
    }
  })
  const idle = async (quietMs = 100, maxMs = 3_000) => {
    const deadline = Date.now() + maxMs
    while ((inflight > 0 || Date.now() - lastActivity < quietMs) && Date.now() < deadline) await new Promise(r => setTimeout(r, 20))
  }
  return { watched, idle }
}

export function connectClient({ url, auth, onQr, config }: ClientOptions): Client {
  const saveErrors: unknown[] = []
  const keys = watchKeys(auth.state.keys, saveErrors)
  const sock = makeWASocket({
    auth: { creds: auth.state.creds, keys: keys.watched },
    waWebSocketUrl: url,
    logger: silentLogger,
    markOnlineOnConnect: false,
    connectTimeoutMs: 10_000,
    // A query the simulator forgot to answer then costs 15 s, which the open deadlines catch.
    defaultQueryTimeoutMs: QUERY_TIMEOUT_MS,
    ...config
  })
  const qrs: string[] = []
  const received: WAMessage[] = []
  let saving: Promise<void> = Promise.resolve()
  let state: 'connecting' | 'open' | 'close' = 'connecting'
  let closeCode: number | undefined
  /** Messages already handed out by nextMessage(). */
  let taken = 0
  const listeners = new Set<() => void>()
  const notify = () => listeners.forEach(fn => fn())

  const client: Client = {
    sock,
    qrs,
    received,
    credsSaves: 0,
    saveErrors,
    waitForOpen: (timeoutMs = 15_000) =>
      withTimeout(
        new Promise<void>((resolve, reject) => {
          const check = () => {
            if (state === 'open') resolve()
            else if (state === 'close') reject(new Error(`connection closed with ${closeCode} before it opened`))
            else return
            listeners.delete(check)
          }
          listeners.add(check)
          check()
        }),
        timeoutMs,
        'connection open'
      ),
    waitForClose: (timeoutMs = 15_000) =>
      withTimeout(
        new Promise<number | undefined>(resolve => {
          const check = () => {
            if (state !== 'close') return
            listeners.delete(check)
            resolve(closeCode)
          }
          listeners.add(check)
          check()
        }),
        timeoutMs,
        'connection close'
      ),
    nextMessage: (timeoutMs = 15_000) =>
      withTimeout(
        new Promise<WAMessage>(resolve => {
          const check = () => {
            if (received.length <= taken) return
            listeners.delete(check)
            resolve(received[taken++] as WAMessage) // received.length > taken: checked above
          }
          listeners.add(check)
          check()
        }),
        timeoutMs,
        'an incoming message'
      ),
    end: async () => {
      if (state !== 'close') {
        void sock.end(undefined)
        await client.waitForClose(5_000).catch(() => undefined)
      }
      await keys.idle()
      await saving
    }
  }

  sock.ev.on('creds.update', () => {
    client.credsSaves++
    saving = saving.then(() => auth.saveCreds()).catch(err => void saveErrors.push(err))
  })
  sock.ev.on('connection.update', (update: Partial<ConnectionState>) => {
    if (update.qr) {
      qrs.push(update.qr)
      onQr?.(update.qr)
    }
    if (update.connection === 'open') state = 'open'
    if (update.connection === 'close') {
      state = 'close'
      closeCode = (update.lastDisconnect?.error as { output?: { statusCode?: number } } | undefined)?.output?.statusCode
    }
    notify()
  })
  sock.ev.on('messages.upsert', ({ messages, type }) => {
    if (type !== 'notify') return
    for (const msg of messages) if (!msg.key.fromMe) received.push(msg)
    notify()
  })
  return client
}
