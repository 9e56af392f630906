import makeWASocket, { type WASocket } from '@whiskeysockets/baileys'
import { pino } from 'pino'
import { createRuntime, type Session } from '../src/runtime/index.js'
import { trustSimulator } from '../src/sim/index.js'
import { openStore } from '../src/open-store.js'
import type { AuthStore } from '../src/auth/auth-store.js'
import { childSpec } from './util.js'
import { must } from '../src/core/defined.js'

/**
 * Child of the runtime workload: one process, N sessions, against the simulator in another
 * process. argv[2] is a JSON spec; the result goes back over IPC.
 *   link:    links every session by QR (POST /scan), `batch` at a time, then stops it (setup).
 *   runtime: createRuntime + start(id) for every session; time until all are `connected`.
 *   bare:    store.useAuthState + makeWASocket per session, no runtime; time until all are open.
 * After all connected, both wait `settleMs` (post-login work finishes), then gc() and read RSS and
 * heap; the growth over the baseline taken before the first session is what the sessions cost.
 */
interface Spec {
  mode: 'link' | 'runtime' | 'bare'
  url: string
  rootKey: string
  storeUrl: string
  sessions: string[]
  batch: number
  settleMs: number
  timeoutMs: number
}

const spec = childSpec() as Spec
const gc = (globalThis as { gc?: () => void }).gc
// libsignal prints session records on the console; nothing of this process goes to stdout.
console.log = console.info = console.warn = console.debug = () => {}

const silent = pino({ level: 'silent' })
const socket = { waWebSocketUrl: spec.url, logger: silent as never, markOnlineOnConnect: false }
const control = spec.url.replace(/^ws/, 'http')
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

function memory() {
  gc?.()
  gc?.()
  const m = process.memoryUsage()
  return { rss: m.rss, heap: m.heapUsed, heapTotal: m.heapTotal, external: m.external }
}
type Memory = ReturnType<typeof memory>

/** Median of three gc'd samples a little apart (one sample can catch a transient allocation). */
async function settledMemory() {
  const samples: Memory[] = []
  for (let i = 0; i < 3; i++) {
    if (i) await sleep(300)
    samples.push(memory())
  }
  const mid = (k: keyof Memory) => must(samples.map(s => s[k]).sort((a, b) => a - b)[1], 'three samples were taken')
  return { rss: mid('rss'), heap: mid('heap'), heapTotal: mid('heapTotal'), external: mid('external') }
}

function cpuSince(start: NodeJS.CpuUsage): number {
  const { user, system } = process.cpuUsage(start)
  return (user + system) / 1000
}

function deadline<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${spec.timeoutMs} ms: ${what}`)), spec.timeoutMs)))
  return Promise.race([promise, late]).finally(() => clearTimeout(timer))
}

const connected = (session: Session) =>
  new Promise<void>((resolve, reject) => {
    if (session.state === 'connected') return resolve()
    session.on('state', ({ state, reason }) => {
      if (state === 'connected') resolve()
      if (state === 'failed' || state === 'stopped' || state === 'expired') reject(new Error(`${session.sessionId}: ${state} (${reason.message})`))
    })
  })

async function link(): Promise<Record<string, unknown>> {
  const store = await openStore(spec.storeUrl)
  const runtime = createRuntime({ store, socket })
  const started = performance.now()
  for (let i = 0; i < spec.sessions.length; i += spec.batch) {
    const batch = await Promise.all(
      spec.sessions.slice(i, i + spec.batch).map(async id => {
        const session = await runtime.start(id)
        let scans = 0
        let scanning = false
        session.on('qr', qr => {
          if (scanning) return
          scanning = true
          // A refused scan (on a loaded machine the QR may have rotated meanwhile) waits for the next QR;
          // the third refusal stops the session so the batch fails fast with a reason.
          const refused = () => void (++scans >= 3 ? session.stop() : (scanning = false))
          fetch(`${control}/scan`, { method: 'POST', body: qr }).then(res => void (res.ok || refused()), refused)
        })
        return session
      })
    )
    await deadline(Promise.all(batch.map(connected)), `linking ${batch.length} devices`)
    await Promise.all(batch.map(s => s.stop()))
  }
  const linkMs = performance.now() - started
  await runtime.stop()
  await store.close()
  return { linkMs }
}

interface Run {
  /** From the first start to the last session connected. */
  ms: number
  /** From the first start to the last makeWASocket call (the cost before connecting). */
  socketsMs: number
  /** CPU time of this process (user + system) over `ms`: less at the mercy of a busy machine. */
  cpuMs: number
  /** Growth over the baseline, after the settle and a gc. */
  rss: number
  heap: number
  heapTotal: number
  external: number
  baseRss: number
  stop(): Promise<void>
}

/**
 * Opens the store, then times `connectAll` from a settled memory baseline: `socketMade` marks each
 * makeWASocket call; what `connectAll` returns ends its sockets before the store closes.
 */
async function measured(connectAll: (store: AuthStore, socketMade: () => void) => Promise<() => Promise<void>>): Promise<Run> {
  const store = await openStore(spec.storeUrl)
  const base = await settledMemory()
  const started = performance.now()
  let socketsMs = 0
  const cpu = process.cpuUsage()
  const endSockets = await connectAll(store, () => (socketsMs = performance.now() - started))
  const ms = performance.now() - started
  return {
    ms,
    socketsMs,
    cpuMs: cpuSince(cpu),
    ...(await idle(base)),
    stop: async () => {
      await endSockets()
      await store.close()
    }
  }
}

const runWithRuntime = () =>
  measured(async (store, socketMade) => {
    const runtime = createRuntime({ store, socket })
    const sessions = await Promise.all(spec.sessions.map(id => runtime.start(id)))
    for (const s of sessions) s.on('socket', socketMade)
    await deadline(Promise.all(sessions.map(connected)), `${sessions.length} runtime sessions connecting`)
    return () => runtime.stop()
  })

const runBare = () =>
  measured(async (store, socketMade) => {
    const socks: WASocket[] = []
    await deadline(
      Promise.all(
        spec.sessions.map(async id => {
          const { state, saveCreds } = await store.useAuthState(id)
          const sock = makeWASocket({ ...socket, auth: state })
          socks.push(sock)
          socketMade()
          sock.ev.on('creds.update', () => void saveCreds())
          await new Promise<void>((resolve, reject) =>
            sock.ev.on('connection.update', ({ connection, lastDisconnect }) => {
              if (connection === 'open') resolve()
              if (connection === 'close') reject(new Error(`${id}: closed (${lastDisconnect?.error?.message})`))
            })
          )
        })
      ),
      `${spec.sessions.length} bare sockets connecting`
    )
    return async () => {
      for (const sock of socks) void sock.end(undefined)
      await sleep(500)
    }
  })

/** Lets post-login work (pre-key checks, presence, app state) finish, then reads memory growth. */
async function idle(base: Memory) {
  await sleep(spec.settleMs)
  const after = await settledMemory()
  return {
    rss: after.rss - base.rss,
    heap: after.heap - base.heap,
    heapTotal: after.heapTotal - base.heapTotal,
    external: after.external - base.external,
    baseRss: base.rss
  }
}

trustSimulator(Buffer.from(spec.rootKey, 'hex'))
try {
  if (spec.mode === 'link') process.send!(await link(), () => process.exit(0))
  else {
    const { stop, ...result } = spec.mode === 'runtime' ? await runWithRuntime() : await runBare()
    await stop()
    process.send!(result, () => process.exit(0))
  }
} catch (err) {
  process.send!({ error: (err as Error).message }, () => process.exit(1))
}
