import { resolve } from 'node:path'
import { VaultError } from '../../core/errors.js'
import { parseDuration } from '../../runtime/duration.js'
import { loadBot, type BotHandler } from '../../runtime/bot.js'
import { listenHealth, parseListenAddress } from '../../runtime/http.js'
import { createMetrics, type VaultMetrics } from '../../runtime/metrics.js'
import { metricsFromStats } from '../../runtime/metrics-sync.js'
import { scheduleBackups, type BackupSchedule } from '../../runtime/backup-schedule.js'
import { createRuntime, type Runtime } from '../../runtime/runtime.js'
import { onStopSignals as onSignals } from '../../runtime/signals.js'
import type { Session } from '../../runtime/session.js'
import type { SessionState } from '../../runtime/states.js'
import type { AuthStore as Store } from '../../auth/auth-store.js'
import { intFlag } from '../args.js'
import { DEFAULT_LEASE_TTL_MS } from '../../runtime/lease.js'
import { lostToAnother, startFleet, type Fleet } from '../../runtime/fleet.js'
import { retryWhileUnavailable } from '../../runtime/store-outage.js'
import { EXIT_OK, EXIT_PROBLEMS, flagList, flagString, UsageError, type Command, type CommandContext } from '../command.js'
import { openCliStore } from '../open.js'
import { cliLoggers, LOG_LEVELS } from '../run-logger.js'
import { sessionOutput } from '../session-output.js'
import { CONTROL_VALUE_FLAGS, controlPlan, startControl, type ControlPlan } from '../run-control.js'
import type { RequestHandler } from '../../runtime/http-api.js'

const ALL_STATES: SessionState[] = [
  'unregistered',
  'registering',
  'registered',
  'queued',
  'connecting',
  'connected',
  'disconnected',
  'expired',
  'standby',
  'failed',
  'stopped'
]
/** States /readyz counts as ready: connected, or deliberately not running (a hot standby is ready to take over). */
const READY = new Set<string>(['connected', 'standby', 'stopped'])

interface RunPlan {
  url: string
  all: boolean
  session?: string
  pairingPhone?: string
  bot?: BotHandler
  http?: { host: string; port: number; allowNonLoopback: boolean }
  backups?: { dir: string; everyMs: number; keep: number }
  server?: { url: string; rootKey?: Buffer }
  logLevel: string
  lease: { ttlMs: number; wait: boolean }
  /** --store-retry-max: the longest wait between two attempts while the store is unreachable. */
  storeRetryMaxMs?: number
  /** The retry store: --message-retain 24h, or false with --no-message-store. */
  messages: { retainMs: number } | false
  /** Fleet mode (--all --capacity N): claim free sessions up to N, keep polling for orphans. */
  capacity?: number
  /** --max-connecting N: handshakes in flight at once (the runtime's default 8 when absent). */
  maxConnecting?: number
  /** --api-token and --webhook (run-control.ts). */
  control: ControlPlan
}

/** Everything a typo could get wrong is checked here, before the store is opened or anything connects. */
async function plan(args: Parameters<Command['run']>[0], env: NodeJS.ProcessEnv): Promise<RunPlan> {
  const [url, extra] = args.positionals
  if (!url) throw new UsageError('run needs a store URL, e.g. baileys-vault run sqlite:./wa.db')
  if (extra) throw new UsageError(`run takes one store URL, got also "${extra}"`)
  const sessions = flagList(args, 'session')
  const all = args.flags.all === true
  if (all && sessions.length) throw new UsageError('use --session ID or --all, not both')
  if (sessions.length > 1) throw new UsageError('run keeps one session (--session ID) or all of them (--all)')
  const pairingPhone = flagString(args, 'pairing-code')
  if (pairingPhone !== undefined && !/^\d{6,15}$/.test(pairingPhone))
    throw new UsageError('--pairing-code takes the phone number in digits with country code, e.g. 15551234567')
  if (pairingPhone !== undefined && all) throw new UsageError('--pairing-code links one session: use it with --session, not --all')

  const logLevel = flagString(args, 'log-level') ?? 'warn'
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`)

  const serverUrl = flagString(args, 'server')
  const rootKeyHex = flagString(args, 'trust-root-key')
  if (rootKeyHex !== undefined && serverUrl === undefined)
    throw new UsageError('--trust-root-key only makes sense with --server (a simulator); never trust another key for the real WhatsApp')
  if (serverUrl !== undefined && !/^wss?:\/\/[^\s]+$/.test(serverUrl))
    throw new UsageError(`--server takes a ws:// URL (what baileys-vault sim prints), got "${serverUrl}"`)
  if (rootKeyHex !== undefined && !/^[0-9a-f]{64}$/i.test(rootKeyHex))
    throw new UsageError('--trust-root-key takes the 64 hex characters baileys-vault sim prints as "root key"')

  const backupDir = flagString(args, 'backup-dir')
  const every = flagString(args, 'backup-every')
  const keepText = flagString(args, 'backup-keep')
  if ((every !== undefined || keepText !== undefined) && backupDir === undefined) throw new UsageError('--backup-every and --backup-keep need --backup-dir')
  const keep = keepText === undefined ? 7 : Number(keepText)
  if (!Number.isInteger(keep) || keep < 1) throw new UsageError(`--backup-keep must be a whole number of at least 1, got "${keepText}"`)

  const leaseTtl = flagString(args, 'lease-ttl')
  const capacity = intFlag(args, 'capacity')
  if (capacity !== undefined && (!all || capacity < 1)) throw new UsageError('--capacity N (at least 1) is fleet mode: use it with --all')
  const wait = args.flags['no-wait'] !== true
  if (capacity !== undefined && !wait) throw new UsageError('fleet mode never waits on a held session (it claims free ones); leave out --no-wait')

  const maxConnecting = intFlag(args, 'max-connecting')
  if (maxConnecting !== undefined && maxConnecting < 1) throw new UsageError('--max-connecting N takes a whole number of at least 1')
  const retain = flagString(args, 'message-retain')
  if (retain !== undefined && args.flags['no-message-store'] === true)
    throw new UsageError('--message-retain sets how long the retry store keeps messages; leave it out with --no-message-store')

  const httpText = flagString(args, 'http')
  const storeRetryMax = flagString(args, 'store-retry-max')
  const control = controlPlan(args, env, httpText === undefined ? undefined : { public: args.flags['http-public'] === true })
  return {
    storeRetryMaxMs: storeRetryMax === undefined ? undefined : asUsageSync(() => parseDuration(storeRetryMax, '--store-retry-max')),
    maxConnecting,
    messages: args.flags['no-message-store'] === true ? false : { retainMs: asUsageSync(() => parseDuration(retain ?? '24h', '--message-retain')) },
    control,
    lease: { ttlMs: leaseTtl === undefined ? DEFAULT_LEASE_TTL_MS : asUsageSync(() => parseDuration(leaseTtl, '--lease-ttl')), wait },
    capacity,
    url,
    all,
    session: sessions[0],
    pairingPhone,
    logLevel,
    bot: flagString(args, 'bot') === undefined ? undefined : await asUsage(() => loadBot(flagString(args, 'bot')!)),
    http: httpText === undefined ? undefined : { ...asUsageSync(() => parseListenAddress(httpText)), allowNonLoopback: args.flags['http-public'] === true },
    // Absolute, so every backup event names a file that can be found whatever the reader's cwd.
    backups:
      backupDir === undefined ? undefined : { dir: resolve(backupDir), everyMs: asUsageSync(() => parseDuration(every ?? '24h', '--backup-every')), keep },
    server: serverUrl === undefined ? undefined : { url: serverUrl, rootKey: rootKeyHex === undefined ? undefined : Buffer.from(rootKeyHex, 'hex') }
  }
}

const asUsageSync = <T>(fn: () => T): T => {
  try {
    return fn()
  } catch (err) {
    throw err instanceof VaultError && err.code === 'INVALID_ARGUMENT' ? new UsageError(err.message) : err
  }
}
const asUsage = async <T>(fn: () => Promise<T>): Promise<T> => {
  try {
    return await fn()
  } catch (err) {
    throw err instanceof VaultError && err.code === 'INVALID_ARGUMENT' ? new UsageError(err.message) : err
  }
}

/** The sessions to keep alive: --session, --all, or the store's only session ('main' in an empty store). */
async function sessionIds(store: Store, p: RunPlan): Promise<string[]> {
  if (p.session) return [p.session]
  if (p.capacity !== undefined) return [] // fleet mode claims its sessions as it goes
  const existing: string[] = []
  for await (const s of store.sessions()) existing.push(s)
  if (p.all) {
    // With the control API, an empty store waits for sessions created over HTTP.
    if (existing.length === 0 && p.control.apiToken === undefined)
      throw new VaultError('NOT_FOUND', `${store.label} has no sessions. Link one first: baileys-vault run ${store.label} --session main`)
    return existing.sort()
  }
  if (existing.length === 0) return ['main']
  if (existing.length === 1) return existing
  throw new UsageError(`${store.label} holds ${existing.length} sessions (${existing.slice(0, 5).join(', ')}…): choose one with --session ID, or --all`)
}

/** Resolves when every session has ended: stopped, failed, or logged out (expired, then cleared). */
function untilAllEnded(sessions: Session[], onEnded: (session: Session, state: SessionState) => void): Promise<void> {
  let live = sessions.length
  return new Promise(resolve => {
    for (const session of sessions) {
      let expired = false
      let ended = false
      const end = (state: SessionState) => {
        if (ended) return
        ended = true
        onEnded(session, state)
        if (--live === 0) resolve()
      }
      session.on('state', ({ state }) => {
        if (state === 'expired') expired = true
        if (state === 'stopped' || state === 'failed') end(expired ? 'expired' : state)
        else if (state === 'unregistered' && expired) end('expired')
      })
    }
  })
}

export const runCommand: Command = {
  name: 'run',
  summary: 'Keep sessions alive: link (QR or pairing code), reconnect, run a bot, serve health and metrics',
  usage: [
    'baileys-vault run <url> [--session ID | --all] [--pairing-code PHONE] [--bot ./bot.mjs]',
    '    [--http 127.0.0.1:9464 [--http-public]] [--backup-dir DIR [--backup-every 24h] [--backup-keep 7]]',
    '    [--server ws://127.0.0.1:PORT [--trust-root-key HEX]] [--log-level warn] [--json]',
    '    [--lease-ttl 30s] [--no-wait] [--all --capacity N] [--max-connecting 8] [--store-retry-max 30s]',
    '    [--message-retain 24h | --no-message-store]',
    '    [--api-token TOKEN] [--webhook URL ... --webhook-secret SECRET [--webhook-retry-max 1m]]',
    '',
    'Without --session or --all: the store\'s only session, or "main" in an empty store.',
    'A new session shows its QR code in the terminal (or prints a pairing code with --pairing-code).',
    '--bot: a module whose default export is called with every new socket: (sock, session) => void.',
    '--json: one JSON event per line on stdout (state, qr, pairing-code, backup, error); human lines on stderr.',
    'One process per session: a session leased by another live process waits as a hot standby (state standby) and',
    'takes over when that one stops or dies (--no-wait: fail at once with LEASE_HELD). --all --capacity N: fleet mode,',
    'claim unowned or expired sessions up to N while below the fleet average, and keep polling for orphans.',
    'A store outage never ends run: the socket ends, an error event says BACKEND_UNAVAILABLE, /readyz is 503, and the',
    'session retries with backoff (1 s doubling up to --store-retry-max, jittered) and reconnects without a QR.',
    '--max-connecting N: at most N handshakes in flight (default 8); the other sessions wait in state queued.',
    'Sent messages are kept in the store (--message-retain, at most 5,000 per session) so a contact asking for one again',
    'after a restart, crash or handoff gets it; --no-message-store turns that off.',
    'SIGTERM/SIGINT stop gracefully (drain writes, end the socket, never log out); a second signal forces the exit.',
    '--api-token (or BAILEYS_VAULT_API_TOKEN): the control API (/api/…) and the dashboard (/) on the --http server;',
    'run then keeps going until a signal, also with no session. --webhook: every event POSTed as signed JSON.',
    'Exit codes: 0 after a graceful stop, 1 when a session ended failed or logged out, 2 usage or I/O error.'
  ].join('\n'),
  valueFlags: [
    'session',
    'pairing-code',
    'bot',
    'http',
    'backup-dir',
    'backup-every',
    'backup-keep',
    'server',
    'trust-root-key',
    'log-level',
    'lease-ttl',
    'capacity',
    'store-retry-max',
    'max-connecting',
    'message-retain',
    ...CONTROL_VALUE_FLAGS
  ],
  flags: ['all', 'http-public', 'no-wait', 'no-message-store'],

  async run(args, ctx) {
    const p = await plan(args, ctx.env)
    const out = sessionOutput({ stdout: ctx.stdout, stderr: ctx.stderr, json: ctx.json })
    let runtime: Runtime | undefined
    let api: RequestHandler | undefined
    let webhooks: ReturnType<typeof startControl>['webhooks']
    let started = false
    const running = () => runtime?.sessions() ?? []
    // The endpoint binds before the store is opened: a port in use is a usage error that leaves
    // the store untouched (not even created).
    const metrics = p.http ? await optionalMetrics(ctx, running) : undefined
    const http = p.http
      ? await asUsage(() =>
          listenHealth(
            { ...healthSource(running, metrics), starting: () => !started, routes: (req, res) => api?.(req, res) ?? Promise.resolve(false) },
            { ...p.http, warn: m => out.note(`warning: ${m}`) }
          )
        )
      : undefined
    let store: Store | undefined
    let schedule: BackupSchedule | undefined
    let untrust: (() => void) | undefined
    let fleet: Fleet | undefined
    const endings: SessionState[] = []
    try {
      store = await openCliStore(p.url, ctx)
      const opened = store
      // A store that restarts while the sessions start delays them; it never ends run (the sessions then retry by themselves).
      const storeRetry = p.storeRetryMaxMs === undefined ? undefined : { maxMs: p.storeRetryMaxMs }
      const whileUnavailable = <T>(what: string, attempt: () => Promise<T>) =>
        retryWhileUnavailable(attempt, {
          retry: storeRetry,
          onRetry: (err, delayMs) => {
            out.event({ event: 'error', ...(what === '' ? {} : { session: what }), code: err.code, message: err.message })
            out.note(`${what || opened.label}: the store is unavailable (${err.message}); trying again in ${delayMs} ms`)
          }
        })
      const ids = await whileUnavailable('', () => sessionIds(opened, p))
      if (p.server?.rootKey) untrust = (await import('../../sim/certs.js')).trustSimulator(p.server.rootKey)
      const { logger, baileysLogger } = cliLoggers(p.logLevel)
      if (metrics) store.observe({ write: e => metrics.storeWrite(e.driver, e.seconds), error: e => metrics.storeError(e.driver, e.code) })
      if (http) {
        out.note(`health and metrics on ${http.url} (/healthz /readyz /sessions /metrics)`)
        out.event({ event: 'http', url: http.url })
      }
      runtime = createRuntime({
        store,
        logger,
        socket: { logger: baileysLogger, ...(p.server ? { waWebSocketUrl: p.server.url } : {}) },
        link: p.pairingPhone ? { pairingCode: { phoneNumber: p.pairingPhone } } : undefined,
        backupDir: p.backups?.dir,
        lease: p.lease,
        storeRetry,
        maxConnecting: p.maxConnecting,
        messages: p.messages
      })
      const sessions: Session[] = []
      ;({ api, webhooks } = startControl(p.control, runtime, metrics))
      if (api) out.note(`control API and dashboard on ${http!.url}/ (token required)`)
      const attach = (session: Session) => {
        out.attach(session)
        if (p.bot) {
          const bot = p.bot
          session.on('socket', sock => bot(sock, session))
        }
        sessions.push(session)
      }
      const starting = runtime
      for (const id of ids) attach(await whileUnavailable(id, () => starting.start(id)))
      // Every session the runtime starts (here, by the fleet or over the API) is reported and gets the bot.
      runtime.onSession(attach)
      for (const id of ids) await runtime.start(id)
      let stopFleet = () => {}
      const fleetStopped = new Promise<void>(resolve => (stopFleet = resolve))
      if (p.capacity !== undefined) {
        fleet = startFleet({
          runtime,
          capacity: p.capacity,
          ttlMs: p.lease.ttlMs,
          // Not attached here: runtime.onSession above already attached it (twice was every event
          // printed twice and the bot installed twice, so each message was answered twice).
          onStart: session => {
            session.on('state', ({ state }) => state === 'failed' && !lostToAnother(session) && endings.push(state))
            session.on('state', ({ state }) => state === 'failed' && session.stats().lastError?.code !== 'LEASE_LOST' && endings.push(state))
          },
          onError: err => out.note(`fleet: ${(err as Error).message}`)
        })
        out.note(`fleet mode: claiming up to ${p.capacity} free sessions of ${store.label}`)
        out.event({ event: 'fleet', capacity: p.capacity })
        void fleet.poll().catch(err => out.note(`fleet: ${(err as Error).message}`))
      }
      // Fleet mode and the control API run until a signal; otherwise until every session has ended.
      const ended = p.capacity !== undefined || api ? fleetStopped : untilAllEnded(sessions, (_s, state) => endings.push(state))
      started = true

      const activeRuntimeEvents = runtime.events
      if (p.backups) {
        const backupStore = store
        schedule = scheduleBackups({
          store: backupStore,
          ...p.backups,
          sessions: () =>
            running()
              .filter(s => s.state === 'connected')
              .map(s => s.sessionId),
          onBackup: ({ session, file }) => {
            metrics?.backupTaken(session, new Date())
            activeRuntimeEvents.publish({ event: 'backup', session, file, scheduled: true })
            out.event({ event: 'backup', session, file, scheduled: true })
            out.note(`${session}: scheduled backup ${file}`)
          },
          onError: ({ session, error }) => {
            metrics?.storeError(backupStore.kind, (error as VaultError).code ?? 'BACKUP_FAILED')
            out.event({
              event: 'error',
              session,
              code: (error as VaultError).code ?? 'BACKUP_FAILED',
              message: `scheduled backup failed: ${(error as Error).message}`
            })
            out.note(`${session}: scheduled backup failed (${(error as Error).message}); trying again at the next round`)
          },
          onWarning: message => out.note(`warning: ${message}`)
        })
      }

      const activeRuntime = runtime
      const stop = () => {
        fleet?.stop()
        stopFleet()
        void activeRuntime.stop()
      }
      const signals = onStopSignals(ctx, stop)
      try {
        await ended
      } finally {
        signals()
        await runtime.stop()
      }
    } finally {
      fleet?.stop()
      // Sessions started before a startup error must not outlive the store they write to.
      await runtime?.stop()
      await schedule?.stop()
      await webhooks?.stop()
      await http?.close()
      untrust?.()
      await store?.close()
    }
    return endings.some(s => s === 'failed' || s === 'expired') ? EXIT_PROBLEMS : EXIT_OK
  }
}

/** What /readyz, /sessions and /metrics report: the runtime's sessions, read at each request. */
function healthSource(sessions: () => Session[], metrics: VaultMetrics | undefined) {
  return {
    readyStates: READY,
    metrics,
    sessions: () =>
      sessions().map(s => {
        const h = s.health()
        return { session: s.sessionId, state: h.state, since: h.since, reason: h.reason, stats: s.stats(), storeProblem: h.storeProblem }
      })
  }
}

/** Metrics when prom-client is installed; without it /metrics answers 404 and a warning says why. */
async function optionalMetrics(ctx: CommandContext, sessions: () => Session[]): Promise<VaultMetrics | undefined> {
  let sync: () => void = () => {}
  try {
    const metrics = await createMetrics({ states: ALL_STATES, beforeScrape: () => sync() })
    sync = metricsFromStats(metrics, sessions)
    return metrics
  } catch (err) {
    ctx.stderr.write(`warning: ${(err as Error).message}; /metrics is off\n`)
    return undefined
  }
}

/**
 * SIGTERM/SIGINT (and the in-process abort signal tests use) start the graceful stop; a second
 * signal while stopping exits at once, for an operator who will not wait for the deadline.
 */
function onStopSignals(ctx: CommandContext, stop: () => void): () => void {
  const uninstall = onSignals({
    stop: () => {
      ctx.stderr.write('stopping gracefully (send the signal again to exit at once)\n')
      stop()
    }
  })
  const onAbort = () => stop()
  ctx.signal?.addEventListener('abort', onAbort, { once: true })
  return () => {
    uninstall()
    ctx.signal?.removeEventListener('abort', onAbort)
  }
}

export default runCommand
