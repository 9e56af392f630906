/** Many sessions in one process: one Session per id, shared options, one graceful stop for all. */
import { invalidArgument } from '../core/errors.js'
import type { AuthStore as Store } from '../auth/auth-store.js'
import { assertSessionId } from '../store/validate.js'
import { silentLogger } from './logger.js'
import { checkSessionOptions, type SessionOptions } from './options.js'
import type { Session } from './session.js'
import { handleSignals, type SignalOptions } from './signals.js'
import { createSession } from './start-session.js'
import { ConnectRamp, DEFAULT_MAX_CONNECTING } from './start-ramp.js'

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

  /** Starts session `id` (or returns it if already started); `options` override the runtime's for this session. */
  async start(sessionId: string, options: SessionOptions = {}): Promise<Session> {
    if (this.stopping) throw invalidArgument('The runtime is stopping; create a new one to start sessions.')
    assertSessionId(sessionId)
    checkSessionOptions(options)
    let pending = this.starting.get(sessionId)
    if (!pending) {
      pending = createSession(this.store, sessionId, { ...this.defaults, ...options }).then(async session => {
        await session.takeLeaseFirst()
        session.useRamp(this.ramp)
        this.started.set(sessionId, session)
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
    await session?.stop()
  }

  sessions(): Session[] {
    return [...this.started.values()]
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
