/** Many sessions in one process: one Session per id, shared options, one graceful stop for all. */
import { resolve } from 'node:path'
import { VaultError, invalidArgument } from '../core/errors.js'
import type { AuthStore as Store } from '../auth/auth-store.js'
import { assertSessionId } from '../store/validate.js'
import { silentLogger } from './logger.js'
import { checkSessionOptions, type SessionOptions } from './options.js'
import type { Session } from './session.js'
import { handleSignals, type SignalOptions } from './signals.js'
import { createSession } from './start-session.js'
import { ConnectRamp, DEFAULT_MAX_CONNECTING } from './start-ramp.js'
import { EventFeed } from './event-feed.js'
import { watchSession } from './event-json.js'
import { isFinal } from './states.js'
import * as admin from './runtime-admin.js'

export interface RuntimeOptions extends SessionOptions {
  store: Store
  /** SIGTERM/SIGINT stop every session gracefully (a second signal forces the exit). Default false. */
  handleSignals?: boolean | SignalOptions
  /** At most this many handshakes in flight at once; the other sessions wait `queued` (start-ramp.ts). Default 8. */
  maxConnecting?: number
}

export class Runtime {
  readonly store: Store
  private readonly defaults: SessionOptions
  private readonly starting = new Map<string, Promise<Session>>()
  private readonly started = new Map<string, Session>()
  private stopping?: Promise<void>
  private readonly uninstallSignals?: () => void
  /** Shared by every session of this runtime, reconnects included. */
  readonly ramp: ConnectRamp
  private readonly sessionListeners = new Set<(session: Session) => void>()
  /** The JSON events of every session (state, qr, pairing-code, backup, error): /api/events and webhooks read it. */
  readonly events = new EventFeed()

  constructor(options: RuntimeOptions) {
    if (typeof options !== 'object' || options === null) throw invalidArgument('createRuntime needs an options object: { store, … }.')
    const { store, handleSignals: signals, maxConnecting, ...defaults } = options
    if (!store || typeof store.useAuthState !== 'function') throw invalidArgument('store must be a Store from openStore().')
    checkSessionOptions(defaults)
    this.ramp = new ConnectRamp(maxConnecting ?? DEFAULT_MAX_CONNECTING)
    this.store = store
    this.defaults = defaults
    if (signals) this.uninstallSignals = handleSignals(() => this.stop(), defaults.logger ?? silentLogger, signals === true ? {} : signals)
  }

  /**
   * Starts session `id` (or returns it if already started; a stopped or failed one is replaced by
   * a new one); `options` override the runtime's for this session.
   */
  async start(sessionId: string, options: SessionOptions = {}): Promise<Session> {
    if (this.stopping) throw invalidArgument('The runtime is stopping; create a new one to start sessions.')
    assertSessionId(sessionId)
    checkSessionOptions(options)
    const ended = this.started.get(sessionId)
    if (ended && isFinal(ended.state)) {
      this.started.delete(sessionId)
      this.starting.delete(sessionId)
    }
    let pending = this.starting.get(sessionId)
    if (!pending) {
      pending = createSession(this.store, sessionId, { ...this.defaults, ...options }).then(async session => {
        await session.takeLeaseFirst()
        session.useRamp(this.ramp)
        this.started.set(sessionId, session)
        watchSession(session, event => this.events.publish(event))
        for (const listener of this.sessionListeners) listener(session)
        setImmediate(() => session.begin())
        return session
      })
      this.starting.set(sessionId, pending)
      pending.catch(() => this.starting.delete(sessionId))
    }
    return pending
  }

  get(sessionId: string): Session | undefined {
    return this.started.get(sessionId)
  }

  /** Stops session `id` and forgets it, so a later start() makes a new one (fleet mode re-claims lost sessions). */
  async remove(sessionId: string): Promise<void> {
    const session = this.started.get(sessionId)
    this.starting.delete(sessionId)
    this.started.delete(sessionId)
    this.events.forget(sessionId)
    await session?.stop()
  }

  sessions(): Session[] {
    return [...this.started.values()]
  }

  /** Calls `listener` with every session this runtime starts from now on, before it connects. */
  onSession(listener: (session: Session) => void): () => void {
    this.sessionListeners.add(listener)
    return () => this.sessionListeners.delete(listener)
  }

  // ---- operating sessions (the control API calls these; see runtime-admin.ts) ----

  /** Starts a session that is not running (CONFLICT when it is), linking it if new. */
  async create(sessionId: string, options: SessionOptions = {}): Promise<Session> {
    const current = this.get(sessionId)
    const beingStarted = this.starting.has(sessionId) && !current
    if (beingStarted || (current && !isFinal(current.state)))
      throw new VaultError('CONFLICT', `Session "${sessionId}" is already running here; stop it first, or use restart.`)
    return this.start(sessionId, options)
  }

  /** Graceful stop of one session; it stays listed as stopped until started again. */
  async stopSession(sessionId: string): Promise<void> {
    const session = this.get(sessionId)
    if (!session || isFinal(session.state)) throw new VaultError('CONFLICT', `Session "${sessionId}" is not running here.`)
    await session.stop()
  }

  /** Graceful stop, then a new session from the stored creds. */
  async restart(sessionId: string): Promise<Session> {
    const session = this.get(sessionId)
    if (!session) throw new VaultError('CONFLICT', `Session "${sessionId}" is not running here; start it instead.`)
    await session.stop()
    return this.start(sessionId)
  }

  /** Unlinks the device on WhatsApp after a backup, clears the session and forgets it. */
  async logout(sessionId: string): Promise<{ backup?: string }> {
    const session = this.get(sessionId)
    if (!session || isFinal(session.state)) throw new VaultError('CONFLICT', `Session "${sessionId}" is not running here; start it to log it out.`)
    const result = await session.logout()
    await this.remove(sessionId)
    return result
  }

  /** Stop, backup into the backup folder, then drop the session from the store (never without the backup). */
  delete(sessionId: string): Promise<{ backup?: string }> {
    return admin.deleteSession(this, sessionId, this.backupDir)
  }

  backup(sessionId: string): Promise<{ file: string }> {
    return admin.backupSession(this, sessionId, this.backupDir)
  }

  doctor(sessionId: string): ReturnType<typeof admin.doctorSession> {
    return admin.doctorSession(this, sessionId)
  }

  report(sessionId?: undefined): Promise<admin.SessionReport[]>
  report(sessionId: string): Promise<admin.SessionReport>
  /** What an operator sees: state, lease owner, stats summary, last backup (all sessions, or one). */
  report(sessionId?: string): Promise<admin.SessionReport | admin.SessionReport[]> {
    return sessionId === undefined ? admin.reportSessions(this) : admin.reportSession(this, sessionId)
  }

  /** The QR a linking session shows now, if any. */
  qr(sessionId: string): string | undefined {
    return this.get(sessionId) ? this.events.link(sessionId).qr : undefined
  }

  /** Links a session that shows a QR by a code typed on the phone instead. */
  async requestPairingCode(sessionId: string, phoneNumber: string): Promise<string> {
    const session = this.get(sessionId)
    if (!session) throw new VaultError('NOT_FOUND', `Session "${sessionId}" is not running here.`)
    return session.requestPairingCode(phoneNumber)
  }

  private get backupDir(): string {
    return resolve(this.defaults.backupDir ?? './backups')
  }

  /** Graceful stop of every session, in parallel. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.allSettled([...this.starting.values()])
      await Promise.all(this.sessions().map(s => s.stop()))
      this.uninstallSignals?.()
    })()
    return this.stopping
  }
}

export const createRuntime = (options: RuntimeOptions): Runtime => new Runtime(options)
