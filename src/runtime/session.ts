/**
 * One WhatsApp account kept alive: a socket at a time, made from the store's auth state, with
 * the state machine (states.ts), the close-code policy (policy.ts), the watchdog, the connect
 * deadline (connect-deadline.ts), batched creds writes, the preflight check and a graceful stop.
 */
import { makeWASocket, proto, type ConnectionState, type WASocket } from '../core/baileys.js'
import type { VaultAuthState } from '../auth/auth-state.js'
import { VaultError, isVaultError } from '../core/errors.js'
import type { MessageStore } from '../store/message-store.js'
import type { AuthStore as Store } from '../auth/auth-store.js'
import { Analytics, type SessionStats } from './analytics.js'
import { CredsSaver } from './creds-saver.js'
import { TypedEvents, type Listener, type SessionEvents } from './events.js'
import { guardSocketHandlers } from './guard-socket.js'
import { KeyActivity } from './key-activity.js'
import { SessionLease } from './lease.js'
import { RampSlot, type ConnectRamp } from './start-ramp.js'
import { backupAndClear } from './logged-out.js'
import { sessionLogger, silentLogger, type RuntimeLogger } from './logger.js'
import { checkSessionOptions, type SessionOptions } from './options.js'
import { ReconnectPolicy } from './policy.js'
import { isUnfinishedPairing, type PreflightResult } from './preflight.js'
import { canTransition, type SessionState, type StateReason } from './states.js'
import { StoreOutage, isStoreUnavailable } from './store-outage.js'
import { Watchdog, resolveWatchdog } from './watchdog.js'
import { resolveConnectDeadline } from './connect-deadline.js'
import { recordStorages, releaseWhenIdle } from '../core/socket-storages.js'
import { openRetryStore, retrySocketOptions } from './retry-store.js'

export interface SessionHealth {
  sessionId: string
  state: SessionState
  /** True while connected. */
  ok: boolean
  /** ISO time the current state was entered. */
  since: string
  /** Why the session is in its state (the last transition's reason). */
  reason: StateReason
  /** Backoff attempts since the last healthy connection. */
  reconnectAttempt: number
  lastError?: SessionStats['lastError']
  /** Set while the store fails (an outage, a folder that cannot be written), until a write commits again. */
  storeProblem?: { code: string; since: string }
}

/** Baileys' defaultQueryTimeoutMs when the socket options leave it out. */
const DEFAULT_QUERY_TIMEOUT_MS = 60_000
const CLEARED_BY_LOGOUT = 'logout'
const CLEARED_BY_401 = 'logged-out'
/** How long key activity must pause before a stop ends the socket. */
const QUIET_MS = 50

const statusCode = (err: unknown): number | undefined => {
  const code = (err as { output?: { statusCode?: unknown } } | undefined)?.output?.statusCode
  return typeof code === 'number' ? code : undefined
}

/** A Boom-shaped error, so Baileys and the policy read its status code like their own. */
const closeError = (message: string, code: number) =>
  Object.assign(new Error(message), { isBoom: true, output: { statusCode: code, payload: { statusCode: code, message } } })

export class Session {
  private current: SessionState
  private reason: StateReason
  private sock?: WASocket
  private auth?: VaultAuthState
  private saver?: CredsSaver
  private readonly keys = new KeyActivity()
  /** How often the session was cleared (401, logout): a socket opened before a clear may not write keys back into it. */
  private clears = 0
  private readonly events: TypedEvents
  private readonly policy: ReconnectPolicy
  private readonly analytics: Analytics
  private readonly log: RuntimeLogger
  private readonly watchdogOptions
  private watchdog?: Watchdog
  private reconnectTimer?: NodeJS.Timeout
  private healthyTimer?: NodeJS.Timeout
  /** Ends an attempt that neither opens, shows a QR nor closes (connect-deadline.ts). */
  private connectTimer?: NodeJS.Timeout
  private readonly connectDeadlineMs: number
  private pairingRequested = false
  private stopping?: Promise<void>
  private endingOnPurpose = false
  /** Creds writes of earlier auth states (the totals survive reconnects and relinks). */
  private credsTotals = { saves: 0, writes: 0, coalesced: 0 }
  /** Hooks for code outside the session (leases, CLI): called before each connect. */
  private uninstallSignals?: () => void
  /** One owner per account (lease.ts); undefined with `lease: false` or a store without leases. */
  private readonly lease?: SessionLease
  /** Store outages: reported once, retried with backoff, never a reason to fail (store-outage.ts). */
  private readonly outage: StoreOutage
  private lastStoreError?: VaultError
  private unobserveStore = () => {}
  /** True while connect() runs: a store failure meanwhile makes that attempt retry later. */
  /** The connection attempt in flight: stop() waits for it, so nothing it takes (a lease, a socket) outlives the stop. */
  private connecting?: Promise<void>
  /** The runtime's limit on handshakes in flight (start-ramp.ts); none for a lone startSession. */
  private ramp?: RampSlot
  /** The retry store (retry-store.ts), opened with the auth state under the same lease; undefined with `messages: false`. */
  private messages?: MessageStore
  /** The lease epoch the current auth state's writes are fenced with. */
  private authEpoch?: number

  constructor(
    readonly store: Store,
    readonly sessionId: string,
    private readonly options: SessionOptions,
    private readonly preflightResult: PreflightResult
  ) {
    this.log = sessionLogger(options.logger ?? silentLogger, sessionId)
    this.policy = new ReconnectPolicy(options.policy)
    this.watchdogOptions = resolveWatchdog(options.watchdog)
    this.connectDeadlineMs = resolveConnectDeadline({ connectDeadlineMs: options.connectDeadlineMs, connectTimeoutMs: options.socket?.connectTimeoutMs })
    this.analytics = new Analytics(Date.now, sessionId)
    this.events = new TypedEvents((event, err) => {
      // A throwing 'error' listener is counted and logged, never re-emitted (that would loop).
      if (event !== 'error') return this.listenerFailed(`'${event}' listener`, err)
      this.analytics.listenerErrors++
      this.log.error({}, `an 'error' listener failed: ${(err as Error)?.message ?? String(err)}`)
    })
    if (options.lease !== false && store.supportsLeases) {
      this.lease = new SessionLease(store, sessionId, options.lease ?? {}, err => this.onLeaseLost(err))
    }
    this.outage = new StoreOutage(options.storeRetry)
    const linked = preflightResult.ok && preflightResult.linked
    this.current = linked ? 'disconnected' : 'unregistered'
    this.reason = { message: linked ? 'not connected yet' : 'no linked device yet' }
  }

  get state(): SessionState {
    return this.current
  }

  /** The live socket, if any (it changes on every reconnect: prefer on('socket')). */
  get socket(): WASocket | undefined {
    return this.sock
  }

  on<E extends keyof SessionEvents>(event: E, listener: Listener<E>): this {
    this.events.on(event, listener)
    // A 'socket' listener added after the socket was made still gets the current one.
    if (event === 'socket' && this.sock) this.events.call('socket', listener, this.sock)
    return this
  }

  off<E extends keyof SessionEvents>(event: E, listener: Listener<E>): this {
    this.events.off(event, listener)
    return this
  }

  /** @internal Connects through the runtime's ramp (at most maxConnecting handshakes in flight); call before begin(). */
  useRamp(ramp: ConnectRamp): void {
    this.ramp = new RampSlot(ramp)
  }

  stats(): SessionStats {
    const stats = this.analytics.snapshot(this.current, this.credsStats())
    if (this.lease) stats.lease = this.lease.stats()
    if (this.messages) stats.messages = this.messages.stats()
    return stats
  }

  /**
   * @internal First attempt at the lease (startSession and Runtime.start await it): LEASE_HELD when
   * another live owner holds it and `lease.wait` is false, INVALID_ARGUMENT for a bad TTL.
   * When it is held and waiting is on, the session begins in `standby`.
   */
  async takeLeaseFirst(): Promise<void> {
    if (this.lease && this.preflightResult.ok) await this.lease.tryTake()
  }

  health(): SessionHealth {
    const stats = this.stats()
    return {
      sessionId: this.sessionId,
      state: this.current,
      ok: this.current === 'connected',
      since: stats.stateSince,
      reason: { ...this.reason },
      reconnectAttempt: this.policy.attempts,
      lastError: stats.lastError,
      ...(this.outage.problem ? { storeProblem: { code: this.outage.problem.code, since: new Date(this.outage.problem.since).toISOString() } } : {})
    }
  }

  /** @internal Starts the session (called by startSession on the next turn of the event loop). */
  begin(): void {
    if (this.stopping) return
    const pre = this.preflightResult
    if (!pre.ok) {
      this.analytics.error(pre.error.code, pre.error.message)
      this.transition('failed', { message: pre.error.message })
      return
    }
    const sessionId = this.sessionId
    // From begin() on, not in the constructor: a session that never starts registers nothing.
    this.unobserveStore = this.store.observe({
      write: e => e.session === sessionId && this.storeWorks(),
      error: e => e.session === sessionId && isStoreUnavailable(e.error) && this.storeUnavailable(e.error)
    })
    if (pre.repair) this.log.warn({ ...pre.repair }, 'pre-key counters were behind the stored pre-keys (a crash between two Baileys writes); advanced them')
    void this.connect()
  }

  /** @internal Installs SIGTERM/SIGINT handling (see signals.ts); removed when the session stops. */
  setSignalHandlers(uninstall: () => void): void {
    this.uninstallSignals = uninstall
  }

  /**
   * Graceful stop: no more reconnects, in-flight key work finishes, creds writes land, the
   * socket ends (never a logout), everything written drains; gives up waiting at the deadline.
   */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown()
    return this.stopping
  }

  /** Explicit unlink: back up, log out on the server, clear the session. Ends `unregistered`. */
  async logout(): Promise<{ backup?: string }> {
    if (this.stopping) throw new VaultError('INVALID_ARGUMENT', `Session "${this.sessionId}" is stopped; start it again to log out.`)
    let done!: () => void
    this.stopping = new Promise<void>(resolve => (done = resolve))
    this.cancelTimers()
    this.lease?.stopWaiting()
    const deadline = Date.now() + (this.options.stopDeadlineMs ?? 10_000)
    try {
      await this.attemptSettled(deadline)
      await this.quiesce(deadline)
      const sock = this.sock
      this.endingOnPurpose = true
      if (sock && this.current === 'connected') {
        await sock.logout().catch(err => this.log.warn({ err: (err as Error).message }, 'logout on the server failed; clearing locally'))
      } else void sock?.end(undefined)
      this.sock = undefined
      if (this.current !== 'unregistered') this.transition('expired', { code: 401, message: 'logged out by request' })
      await this.quiesce(deadline)
      const file = await this.clear(CLEARED_BY_LOGOUT)
      this.transition('unregistered', { code: 401, message: 'cleared after logout (a backup was taken first)' })
      return { backup: file }
    } finally {
      await this.releaseLease()
      this.unobserveStore()
      this.uninstallSignals?.()
      done()
    }
  }

  /** Links by a code typed on the phone instead of the QR shown now (the session must be registering). */
  async requestPairingCode(phoneNumber: string): Promise<string> {
    const sock = this.sock
    if (!sock || this.current !== 'registering')
      throw new VaultError('CONFLICT', `Session "${this.sessionId}" is ${this.current}, not linking; a pairing code is for a session that shows a QR.`)
    checkSessionOptions({ link: { pairingCode: { phoneNumber } } })
    const code = await sock.requestPairingCode(phoneNumber)
    if (sock === this.sock) this.events.emit('pairing-code', code)
    return code
  }

  // ---- connecting ----

  private connect(): Promise<void> {
    if (this.stopping || this.connecting) return Promise.resolve()
    this.reconnectTimer = undefined
    const attempt = this.attemptConnection().finally(() => (this.connecting = undefined))
    this.connecting = attempt
    return attempt
  }

  private async attemptConnection(): Promise<void> {
    const failures = this.outage.failures
    try {
      // A reconnect first checks the lease is still ours (a zombie woken up must not kick the new owner).
      if (this.lease?.held && !(await this.lease.confirm())) return
      if (this.lease && !this.lease.held) {
        const grant = await this.lease.take(held =>
          this.transition('standby', { message: `waiting as a standby: ${held?.message ?? 'another process holds the lease'}` })
        )
        if (!grant || this.stopping) return
      }
      this.throwIfStoreFailedSince(failures)
      if (this.stopping) return
      const queued = () => this.transition('queued', { message: 'waiting for a connection slot (at most maxConnecting handshakes at once)' })
      if (this.ramp && !(await this.ramp.take({ reconnect: this.current === 'disconnected', onQueued: queued }))) return
      if (this.stopping) return this.ramp?.free()
      const note = this.lease?.takeNote()
      this.transition('connecting', { message: note ? `${note}; opening a connection` : 'opening a connection' })
      // An auth state fenced by an epoch this session no longer holds (the lease expired in an outage and was taken again) would have every write refused.
      if (this.auth && this.lease && this.authEpoch !== this.lease.held?.epoch) this.endSocket('the lease was taken again', 503)
      if (!this.auth) {
        this.authEpoch = this.lease?.held?.epoch
        const auth = await this.store.useAuthState(this.sessionId, { lease: this.lease?.held })
        this.auth = this.lease ? this.lease.fence(auth) : auth
        this.messages = await openRetryStore(this.store, this.sessionId, this.options.messages, this.lease?.held)
        // A pairing code requested before a crash never completed: start that linking over.
        if (isUnfinishedPairing(this.auth.state.creds)) {
          this.auth.state.creds.me = undefined
          this.auth.state.creds.pairingCode = undefined
        }
        this.saver = new CredsSaver(this.auth.saveCreds)
      }
      // After a store problem, one write (the stored creds, unchanged) proves the store takes writes again before a socket depends on it.
      if (this.outage.problem) await this.auth.saveCreds()
      this.throwIfStoreFailedSince(failures)
    } catch (err) {
      this.ramp?.free()
      // Stopped meanwhile: the attempt ended because of the stop (its store closing, say), not a failure of the session.
      if (this.stopping) return this.log.debug({ code: (err as VaultError).code }, 'a connection attempt ended by the stop')
      if (isStoreUnavailable(err)) return this.retryStore(err as VaultError)
      const message = `Could not start a connection: ${(err as Error).message}`
      this.analytics.error((err as VaultError).code, message)
      return this.transition('failed', { message })
    }
    if (this.stopping || !this.auth) return
    try {
      this.openSocket(this.auth, this.saver!)
    } catch (err) {
      // makeWASocket refused its options: no retry can fix that.
      this.ramp?.free()
      const message = `makeWASocket failed: ${(err as Error).message}`
      this.analytics.error(undefined, message)
      this.transition('failed', { message })
    }
  }

  private openSocket(auth: VaultAuthState, saver: CredsSaver): void {
    // Creds: only the current auth state's are saved (a socket ended in an outage must not write back creds the next one reloaded).
    const live = () => this.auth === auth
    // Keys: a socket's transactions may commit late (Baileys retries a failed commit for up to
    // maxCommitRetries x delayBetweenTriesMs) and still must: after a store outage ended the socket,
    // a retry carries the Signal step of a message that already left; refusing it left the store a
    // step behind what the contact saw, and failed a send that was delivered. They stay fenced by
    // the lease epoch; only a session cleared since (401, logout) refuses them.
    const clearsAtOpen = this.clears
    const notCleared = () => this.clears === clearsAtOpen
    const { value: sock, storages } = recordStorages(() =>
      makeWASocket({
        ...this.options.socket,
        ...retrySocketOptions(this.messages, this.options.socket),
        auth: { creds: auth.state.creds, keys: this.keys.watch(auth.state.keys, notCleared) }
      })
    )
    this.sock = sock
    this.armConnectDeadline(sock)
    // Baileys never disables the socket's transaction storage (socket-storages.ts): it is disabled once the socket closed and
    // none of its transactions runs; at most twice defaultQueryTimeoutMs after the close (a transaction's query waits that long).
    const storageRelease = releaseWhenIdle(sock.authState.keys, storages, 2 * (this.options.socket?.defaultQueryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS))
    sock.ev.on('connection.update', ({ connection }) => {
      if (connection === 'close') storageRelease.closed()
    })
    this.messages?.record(sock, { onError: err => this.messageNotRecorded(err) })
    this.pairingRequested = false
    sock.ev.on('creds.update', () => {
      if (!live()) return
      saver.save().catch(err => this.problem('saving creds', err))
    })
    sock.ev.on('connection.update', update => {
      if (sock === this.sock) this.onConnectionUpdate(sock, update)
    })
    sock.ev.on('messages.upsert', ({ messages, type }) => {
      for (const msg of messages) {
        if (msg.messageStubType === proto.WebMessageInfo.StubType.CIPHERTEXT) this.analytics.decryptFailures++
        else if (msg.key.fromMe) this.analytics.messagesOut++
        else if (type === 'notify') this.analytics.messagesIn++
      }
    })
    this.startWatchdog(sock)
    guardSocketHandlers(sock, (where, err) => this.listenerFailed(where, err))
    this.events.emit('socket', sock)
  }

  private startWatchdog(sock: WASocket): void {
    this.watchdog = new Watchdog(
      this.watchdogOptions,
      {
        onFrame: listener => sock.ws.on('frame', listener),
        onMessage: listener => sock.ev.on('messages.upsert', ({ type }) => type === 'notify' && listener()),
        ping: async timeoutMs => {
          await sock.query(
            { tag: 'iq', attrs: { id: sock.generateMessageTag(), to: 's.whatsapp.net', type: 'get', xmlns: 'w:p' }, content: [{ tag: 'ping', attrs: {} }] },
            timeoutMs
          )
        },
        kill: message => void sock.end(closeError(message, 408) as never)
      },
      message => {
        this.analytics.watchdogReconnects++
        this.log.warn({}, message)
      }
    )
  }

  private onConnectionUpdate(sock: WASocket, update: Partial<ConnectionState>): void {
    // The handshake is over once the connection is open or shows a QR (waiting for a scan holds no slot; the QR has its own timeouts).
    if (update.qr || update.connection === 'open' || update.connection === 'close') {
      this.ramp?.free()
      this.clearConnectDeadline()
    }
    if (update.qr) this.onQr(sock, update.qr)
    if (update.isNewLogin) this.transition('registered', { message: 'pair-success: the phone linked this device; a restart follows' })
    if (update.connection === 'open') {
      this.transition('connected', { message: 'connection open' })
      this.outage.connected()
      this.policy.opened()
      this.watchdog?.start()
      this.healthyTimer = setTimeout(() => this.policy.healthy(), this.policy.options.healthyAfterMs)
      this.healthyTimer.unref?.()
    }
    if (update.connection === 'close') void this.onClose(update.lastDisconnect?.error)
  }

  private armConnectDeadline(sock: WASocket): void {
    this.clearConnectDeadline()
    if (this.connectDeadlineMs === 0) return
    this.connectTimer = setTimeout(() => this.connectDeadlinePassed(sock), this.connectDeadlineMs)
    this.connectTimer.unref?.()
  }

  private clearConnectDeadline(): void {
    if (this.connectTimer) clearTimeout(this.connectTimer)
    this.connectTimer = undefined
  }

  /**
   * The attempt got no open, QR or close in time: its socket is abandoned (no longer this.sock, so
   * whatever it reports later is ignored), ended, and closed here as a 408 without waiting for
   * Baileys, whose socket may never report a close.
   */
  private connectDeadlinePassed(sock: WASocket): void {
    this.connectTimer = undefined
    if (sock !== this.sock || this.stopping || this.endingOnPurpose) return
    const message = `no open, QR or close from the server within connectDeadlineMs (${this.connectDeadlineMs} ms)`
    this.log.warn({ code: 408, connectDeadlineMs: this.connectDeadlineMs }, `connection attempt timed out: ${message}; ending it`)
    const error = closeError(`Connection attempt timed out: ${message}`, 408)
    this.sock = undefined
    void sock.end(error as never)
    void this.onClose(error)
  }

  private onQr(sock: WASocket, qr: string): void {
    const pairing = this.options.link?.pairingCode
    if (!pairing) {
      if (this.current !== 'registering') this.transition('registering', { message: 'showing a QR code' })
      this.events.emit('qr', qr)
      return
    }
    // The pair-device stanza (which brings the first QR) is the moment Baileys can send the code request.
    if (this.pairingRequested) return
    this.pairingRequested = true
    sock.requestPairingCode(pairing.phoneNumber).then(
      code => {
        if (sock !== this.sock) return
        this.transition('registering', { message: 'showing a pairing code' })
        this.events.emit('pairing-code', code)
      },
      err => this.problem('requesting a pairing code', err)
    )
  }

  // ---- closing ----

  private async onClose(error: Error | undefined): Promise<void> {
    this.ramp?.free()
    this.watchdog?.stop()
    this.sock = undefined
    // Read before any transition below: the loop detection weighs a drop by how long its connection was up.
    const openForMs = this.analytics.connectedForMs()
    if (this.healthyTimer) clearTimeout(this.healthyTimer)
    if (this.stopping || this.endingOnPurpose) return
    const code = statusCode(error)
    // Replaced by another client: if that is because our lease was taken over, stand by instead of failing.
    if (code === 440 && this.lease?.held && !(await this.lease.confirm())) return
    const reason: StateReason = { code, message: error?.message ?? 'connection closed' }
    this.analytics.disconnected(reason)
    this.analytics.error(code, reason.message)
    const decision = this.policy.decide(code, Date.now(), { openForMs })
    this.log.info({ code, action: decision.action }, 'connection closed')
    switch (decision.action) {
      case 'restart':
        if (this.current !== 'registered') this.transition('disconnected', reason)
        this.analytics.reconnectAttempts++
        return this.connect()
      case 'backoff':
        this.transition('disconnected', { ...reason, message: `${reason.message}; reconnect #${decision.attempt} in ${decision.delayMs} ms` })
        this.analytics.reconnectAttempts++
        this.reconnectTimer = setTimeout(() => void this.connect(), decision.delayMs)
        return
      case 'fail':
        return this.transition('failed', { code, message: decision.message })
      case 'logged-out':
        return this.onLoggedOut(reason)
    }
  }

  /** 401: back up, clear, expired → unregistered; link again only if configured. */
  private async onLoggedOut(reason: StateReason): Promise<void> {
    this.transition('expired', { ...reason, message: `logged out on the server (${reason.message})` })
    try {
      await this.quiesce(Date.now() + (this.options.stopDeadlineMs ?? 10_000))
      await this.clear(CLEARED_BY_401)
    } catch (err) {
      const message = `The session was logged out, but the backup before clearing it failed, so nothing was cleared: ${(err as Error).message}`
      this.analytics.error((err as VaultError).code, message)
      return this.transition('failed', { code: reason.code, message })
    }
    this.transition('unregistered', { code: reason.code, message: 'cleared after logout (a backup was taken first)' })
    if (this.options.link?.relinkAfterLogout && !this.stopping) await this.connect()
  }

  /** A sent message could not be kept for a retry (the send itself went out): logged without its text; a lost lease ends the socket. */
  private messageNotRecorded(err: Error): void {
    if (isVaultError(err, 'LEASE_LOST')) return void this.lease?.confirm()
    this.problem('recording a sent message for retries', err)
  }

  /**
   * The lease is gone (a renewal or a write got LEASE_LOST): another owner may be writing.
   * The socket ends now, before another send can fork the ratchet; the auth state is cut off
   * (its late writes are refused: the store fences them by epoch), and the session waits as a standby or fails.
   */
  private onLeaseLost(err: VaultError): void {
    if (this.stopping) return
    // Not renewed in time because the store did not answer: an outage, retried, never a failure.
    if (isStoreUnavailable(err)) return this.storeUnavailable(err)
    this.analytics.error(err.code, err.message)
    this.log.warn({ code: err.code }, 'lease lost; ending the socket')
    this.cancelTimers()
    this.endSocket(err.message, 440)
    if (this.lease?.wait === false) return this.transition('failed', { message: err.message })
    this.transition('standby', { message: `lease lost; waiting as a standby (${err.message})` })
    void this.connect()
  }

  /**
   * The store failed for this session (a read, a write, a lease step): the socket ends now (its
   * writes cannot land, so what it receives could not be kept, and the lease cannot be renewed),
   * the auth state is reloaded from the store on reconnect (the old socket's key commits that Baileys
   * retries still land once the store answers, see openSocket), and a retry is scheduled with backoff. Reported once per problem: an `error` event and a warn line naming the store.
   */
  private storeUnavailable(err: VaultError): void {
    if (this.stopping) return
    this.reportStoreProblem(err)
    if (this.connecting) return // that attempt fails and schedules the retry
    if (this.sock || this.auth) {
      this.cancelTimers()
      this.endSocket(err.message, 503)
    }
    if (!this.reconnectTimer && this.current !== 'failed') this.retryStore(err)
  }

  private reportStoreProblem(err: VaultError): void {
    this.lastStoreError = err
    if (!this.outage.failed(err)) return
    this.analytics.error(err.code, err.message)
    this.log.warn(
      { code: err.code, store: this.store.label },
      `the store is unavailable; the socket ends and reconnects once the store answers: ${err.message}`
    )
    this.events.emit('error', err)
  }

  /** The next attempt after a store failure, with capped, jittered backoff. */
  private retryStore(err: VaultError): void {
    if (this.stopping) return
    if (!this.outage.problem) this.reportStoreProblem(err)
    this.cancelTimers()
    this.endSocket(err.message, 503) // the auth state is reloaded from the store on the next attempt
    const delayMs = this.outage.nextDelayMs()
    this.transition('disconnected', { message: `the store is unavailable; retry #${this.outage.attempt} in ${delayMs} ms (${err.message})` })
    this.reconnectTimer = setTimeout(() => void this.connect(), delayMs)
  }

  /** A write committed: a store problem, if any, is over. */
  private storeWorks(): void {
    if (this.outage.recovered()) this.log.info({ store: this.store.label }, 'the store takes writes again')
  }

  private throwIfStoreFailedSince(failures: number): void {
    if (this.outage.failures !== failures) throw this.lastStoreError
  }

  /** Ends the socket without a reconnect of its own, and cuts its auth state off (its late creds writes are refused; its key commits still land, see openSocket). */
  private endSocket(message: string, code: number): void {
    const sock = this.sock
    this.sock = undefined
    this.clearConnectDeadline()
    this.rememberCredsStats()
    this.auth = undefined
    this.messages = undefined
    this.saver = undefined
    void sock?.end(closeError(message, code) as never)
  }

  /** Backup + clear; the old auth state is cut off first so a late Baileys write cannot refill the session. */
  private async clear(why: string): Promise<string | undefined> {
    const auth = this.auth
    this.clears++
    this.rememberCredsStats()
    this.auth = undefined
    this.saver = undefined
    const file = await backupAndClear(this.store, this.sessionId, auth, this.options.backupDir ?? './backups', why)
    if (file) {
      this.log.warn({ file }, 'session backed up and cleared')
      this.events.emit('backup', { file })
    }
    return file
  }

  private async shutdown(): Promise<void> {
    this.cancelTimers()
    this.lease?.stopWaiting()
    const deadline = Date.now() + (this.options.stopDeadlineMs ?? 10_000)
    await this.attemptSettled(deadline)
    const sock = this.sock
    if (sock) {
      await this.quiesce(deadline)
      const closed = new Promise<void>(resolve => sock.ev.on('connection.update', u => u.connection === 'close' && resolve()))
      void sock.end(undefined)
      await untilDeadline(closed, deadline)
      this.sock = undefined
    }
    await this.quiesce(deadline)
    if (Date.now() >= deadline) this.log.warn({}, 'graceful stop reached its deadline; some work may not have finished')
    await this.releaseLease()
    this.unobserveStore()
    this.transition('stopped', { message: 'stopped gracefully' })
    this.uninstallSignals?.()
  }

  /** After the socket ended and the writes drained: a standby elsewhere takes over within one poll. */
  private async releaseLease(): Promise<void> {
    await this.lease
      ?.release()
      .catch(err => this.log.warn({ code: (err as VaultError).code }, `releasing the lease failed (it expires by itself): ${(err as Error).message}`))
  }

  /** Waits for the connection attempt in flight (bounded by `deadline`): a lease it is granted meanwhile is then released by the stop. */
  private async attemptSettled(deadline: number): Promise<void> {
    if (this.connecting) await untilDeadline(this.connecting, deadline)
  }

  /** Waits for in-flight key work and creds writes (bounded by `deadline`). */
  private async quiesce(deadline: number): Promise<void> {
    await this.keys.settled(QUIET_MS, deadline)
    if (this.saver) await untilDeadline(this.saver.idle(), deadline)
  }

  private cancelTimers(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer)
    if (this.healthyTimer) clearTimeout(this.healthyTimer)
    this.reconnectTimer = this.healthyTimer = undefined
    this.clearConnectDeadline()
    this.watchdog?.stop()
    this.ramp?.free()
  }

  // ---- bookkeeping ----

  private transition(next: SessionState, reason: StateReason): void {
    const previous = this.current
    if (previous === next) return
    if (!canTransition(previous, next)) {
      this.log.error({ from: previous, to: next }, 'unexpected state transition (a runtime bug); applied anyway')
    }
    this.current = next
    this.reason = reason
    this.analytics.enter(next)
    this.log.info({ state: next, previous, code: reason.code }, reason.message)
    this.events.emit('state', { sessionId: this.sessionId, state: next, previous, reason })
  }

  private listenerFailed(where: string, err: unknown): void {
    this.analytics.listenerErrors++
    this.problem(`a ${where}`, err)
  }

  private problem(what: string, err: unknown): void {
    if (isStoreUnavailable(err)) return // reported once per outage by storeUnavailable
    const message = `${what} failed: ${(err as Error)?.message ?? String(err)}`
    this.analytics.error((err as VaultError)?.code, message)
    this.log.error({ code: (err as VaultError)?.code }, message)
    this.events.emit('error', err instanceof Error ? err : new Error(message))
  }

  private rememberCredsStats(): void {
    if (!this.saver) return
    this.credsTotals.saves += this.saver.calls
    this.credsTotals.writes += this.saver.writes
    this.credsTotals.coalesced += this.saver.coalesced
  }

  private credsStats(): SessionStats['creds'] {
    const s = this.saver
    return {
      saves: this.credsTotals.saves + (s?.calls ?? 0),
      writes: this.credsTotals.writes + (s?.writes ?? 0),
      coalesced: this.credsTotals.coalesced + (s?.coalesced ?? 0)
    }
  }
}

/** Waits for `work`, or until `deadline` (epoch ms), whichever comes first; never rejects on the timer's side. */
function untilDeadline(work: Promise<unknown>, deadline: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise(resolve => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))))
  return Promise.race([work, late]).finally(() => clearTimeout(timer))
}
