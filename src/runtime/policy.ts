/**
 * What the runtime does when a connection closes, by Baileys DisconnectReason code. Every entry
 * is a documented default and can be overridden (`policy.codes`). The session is never deleted
 * except on 401 (after a backup).
 *
 * | code | meaning                                   | default action                           |
 * |------|-------------------------------------------|------------------------------------------|
 * | 515  | restartRequired (after pairing, or asked) | `restart`: reconnect at once             |
 * | 408  | connectionLost / timedOut                 | `backoff`                                |
 * | 428  | connectionClosed                          | `backoff`                                |
 * | 500  | badSession (Baileys' default for *any* unknown stream error, so not proof of corruption) | `backoff` |
 * | 503  | unavailableService                        | `backoff`                                |
 * | 440  | connectionReplaced: another client holds the account | `fail` (stop, never fight)    |
 * | 401  | loggedOut                                 | `logged-out`: backup, clear, expired     |
 * | 403  | forbidden                                 | `fail`, creds kept                       |
 * | 411  | multideviceMismatch                       | `fail`, creds kept                       |
 * | any other                                        | `backoff`                                |
 *
 * Backoff: 2 s × 1.8ⁿ capped at 30 s, ±25 % jitter; the delay grows until a connection stayed up
 * for `healthyAfterMs`. At most 12 tries in a row that never opened a connection (`failed` after
 * that): a try that opened proves the cause passes. Loop detection: more than `loop.maxFailures`
 * counted closes within `loop.windowMs`, or `loop.maxReplaced` 440s within the window (when 440 is
 * set to `backoff`), end in `failed` with the creds kept. Transport failures (408, 428) are not
 * counted when the connection had stayed open `loop.settledMs` (the network or the server went
 * away: a server restarting every 20 s is an outage, not a loop) or never opened (the server or
 * network is down: the tries in a row bound those); the backoff paces both. A settled
 * connection's drop also starts the delays over: it proved the path works, so the first
 * reconnect comes after `initialMs`, not after the 30 s a long outage grew to. Drops soon after
 * login, and every close the server gives a reason for (515, 500, 503, ...), still count.
 */
import { invalidArgument } from '../core/errors.js'

export type CloseAction = 'restart' | 'backoff' | 'fail' | 'logged-out'

export interface BackoffOptions {
  /** First delay. Default 2,000 ms. */
  initialMs?: number
  /** Longest delay. Default 30,000 ms. */
  maxMs?: number
  /** Growth per attempt. Default 1.8. */
  factor?: number
  /** Random spread as a fraction of the delay (0.25 = ±25 %). Default 0.25. */
  jitter?: number
  /** Tries in a row that never opened a connection, before `failed`. Default 12. */
  maxAttempts?: number
}

export interface LoopOptions {
  /** Closes within `windowMs` that mean a loop. Default 10. */
  maxFailures?: number
  /** Default 5 minutes. */
  windowMs?: number
  /** 440s within `windowMs` that mean two clients fight over the account. Default 2. */
  maxReplaced?: number
  /** A 408/428 drop of a connection open at least this long is not counted as a loop, and starts the backoff over. Default 10,000 ms. */
  settledMs?: number
}

/** Closes that say the socket went away (connection lost or closed), not that the server refused the session. */
const TRANSPORT_DROPS: ReadonlySet<number> = new Set([408, 428])

/** What the runtime knows about the connection that closed. */
export interface ClosedConnection {
  /** How long it had been open; undefined when it never opened. */
  openForMs?: number
}

export interface ReconnectPolicyOptions {
  /** Overrides of the action per close code (see the table above). */
  codes?: Record<number, CloseAction>
  /** Action for codes not in the table. Default `backoff`. */
  otherCodes?: CloseAction
  backoff?: BackoffOptions
  loop?: LoopOptions
  /** A connection open this long resets the backoff counter. Default 60,000 ms. */
  healthyAfterMs?: number
  /** Random source in [0, 1) for the jitter (tests pass a fixed one). Default Math.random. */
  random?: () => number
}

export const DEFAULT_CODES: Readonly<Record<number, CloseAction>> = Object.freeze({
  515: 'restart',
  408: 'backoff',
  428: 'backoff',
  500: 'backoff',
  503: 'backoff',
  440: 'fail',
  401: 'logged-out',
  403: 'fail',
  411: 'fail'
})

const ACTIONS: readonly CloseAction[] = ['restart', 'backoff', 'fail', 'logged-out']

export type Decision =
  { action: 'restart' } | { action: 'backoff'; delayMs: number; attempt: number } | { action: 'fail'; message: string } | { action: 'logged-out' }

type Resolved = Required<Omit<ReconnectPolicyOptions, 'backoff' | 'loop' | 'codes'>> & {
  /** A Map: an object keyed by close codes up to 515 gets a ~4 KB holey elements array per session in V8. */
  codes: ReadonlyMap<number, CloseAction>
  backoff: Required<BackoffOptions>
  loop: Required<LoopOptions>
}

const positive = (name: string, v: number | undefined, fallback: number, integer = false): number => {
  const n = v ?? fallback
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) {
    throw invalidArgument(`policy.${name} must be a ${integer ? 'non-negative integer' : 'non-negative number'}; got ${String(v)}.`)
  }
  return n
}

/** Checks and completes policy options; bad values throw INVALID_ARGUMENT. */
export function resolvePolicy(options: ReconnectPolicyOptions = {}): Resolved {
  if (typeof options !== 'object' || options === null) throw invalidArgument('policy must be an object.')
  const codes = new Map(Object.entries(DEFAULT_CODES).map(([code, action]) => [Number(code), action]))
  for (const [code, action] of Object.entries(options.codes ?? {})) {
    if (!/^\d{3}$/.test(code) || !ACTIONS.includes(action)) {
      throw invalidArgument(`policy.codes: "${code}" → "${String(action)}" is not valid; use a 3-digit close code and one of ${ACTIONS.join(', ')}.`)
    }
    codes.set(Number(code), action)
  }
  const otherCodes = options.otherCodes ?? 'backoff'
  if (!ACTIONS.includes(otherCodes)) throw invalidArgument(`policy.otherCodes must be one of ${ACTIONS.join(', ')}.`)
  const b = options.backoff ?? {}
  const backoff: Required<BackoffOptions> = {
    initialMs: positive('backoff.initialMs', b.initialMs, 2_000),
    maxMs: positive('backoff.maxMs', b.maxMs, 30_000),
    factor: positive('backoff.factor', b.factor, 1.8),
    jitter: positive('backoff.jitter', b.jitter, 0.25),
    maxAttempts: positive('backoff.maxAttempts', b.maxAttempts, 12, true)
  }
  if (backoff.factor < 1) throw invalidArgument('policy.backoff.factor must be at least 1.')
  if (backoff.jitter >= 1) throw invalidArgument('policy.backoff.jitter must be below 1 (a fraction of the delay).')
  if (backoff.maxMs < backoff.initialMs) throw invalidArgument('policy.backoff.maxMs must not be below initialMs.')
  const l = options.loop ?? {}
  const loop: Required<LoopOptions> = {
    maxFailures: positive('loop.maxFailures', l.maxFailures, 10, true),
    windowMs: positive('loop.windowMs', l.windowMs, 5 * 60_000),
    maxReplaced: positive('loop.maxReplaced', l.maxReplaced, 2, true),
    settledMs: positive('loop.settledMs', l.settledMs, 10_000)
  }
  const random = options.random ?? Math.random
  if (typeof random !== 'function') throw invalidArgument('policy.random must be a function.')
  return { codes, otherCodes, backoff, loop, healthyAfterMs: positive('healthyAfterMs', options.healthyAfterMs, 60_000), random }
}

/** The delay before attempt `attempt` (1-based): initial × factorⁿ⁻¹, capped, then jittered. */
export function backoffDelay(backoff: Required<BackoffOptions>, attempt: number, random: () => number): number {
  const base = Math.min(backoff.maxMs, backoff.initialMs * backoff.factor ** (attempt - 1))
  return Math.round(base * (1 + backoff.jitter * (2 * random() - 1)))
}

/**
 * The reconnect policy of one session: remembers recent closes (for loop detection) and the
 * attempt counter (for backoff). `now` is injected so tests drive it with fake clocks.
 */
export class ReconnectPolicy {
  readonly options: Resolved
  private attempt = 0
  /** Tries since a connection last opened (the give-up count; `attempt` is the delay's). */
  private triesSinceOpen = 0
  private closes: Array<{ at: number; code: number | undefined }> = []

  constructor(options: ReconnectPolicyOptions = {}) {
    this.options = resolvePolicy(options)
  }

  actionFor(code: number | undefined): CloseAction {
    return code === undefined ? this.options.otherCodes : (this.options.codes.get(code) ?? this.options.otherCodes)
  }

  /** Backoff attempts made since the last healthy connection. */
  get attempts(): number {
    return this.attempt
  }

  /** A connection opened: the tries in a row start again (the delay keeps growing until healthy()). */
  opened(): void {
    this.triesSinceOpen = 0
  }

  /** A connection stayed open `healthyAfterMs`: the next failure starts from the first delay. */
  healthy(): void {
    this.attempt = 0
    this.closes = []
  }

  /** Decides what to do about a close with `code` at time `now`, of a connection described by `closed`. */
  decide(code: number | undefined, now: number, closed: ClosedConnection = {}): Decision {
    const { loop, backoff } = this.options
    const transport = code !== undefined && TRANSPORT_DROPS.has(code)
    const { openForMs } = closed
    const settled = openForMs !== undefined && openForMs >= loop.settledMs
    // A settled connection proved the path works: its drop is a new outage, and the delays start over.
    if (transport && settled) this.attempt = 0
    // A loop is a connection that opens and dies young, or a server's verdict. A transport failure
    // before any open (server or network down) is bounded by backoff.maxAttempts instead.
    const diedYoung = openForMs !== undefined && !settled
    if (!transport || diedYoung) this.closes.push({ at: now, code })
    this.closes = this.closes.filter(c => now - c.at <= loop.windowMs)
    const action = this.actionFor(code)
    if (action === 'logged-out') return { action }
    if (action === 'fail') return { action, message: failMessage(code) }
    const replaced = this.closes.filter(c => c.code === 440).length
    if (code === 440 && replaced >= loop.maxReplaced) {
      return {
        action: 'fail',
        message: `Connection replaced (440) ${replaced} times within ${loop.windowMs} ms: another client is using this account. Stop the other client (or this one); the creds are kept.`
      }
    }
    if (this.closes.length > loop.maxFailures) {
      return {
        action: 'fail',
        message: `Reconnect loop: ${this.closes.length} closes within ${loop.windowMs} ms (last code ${code ?? 'none'}). The creds are kept; check the network and the server, then start the session again.`
      }
    }
    if (action === 'restart') return { action }
    this.attempt++
    this.triesSinceOpen++
    if (this.triesSinceOpen > backoff.maxAttempts) {
      return {
        action: 'fail',
        message: `Gave up after ${backoff.maxAttempts} reconnect attempts in a row (last code ${code ?? 'none'}). The creds are kept; start the session again when the cause is fixed.`
      }
    }
    return { action: 'backoff', delayMs: backoffDelay(backoff, this.attempt, this.options.random), attempt: this.attempt }
  }
}

function failMessage(code: number | undefined): string {
  switch (code) {
    case 440:
      return 'Connection replaced (440): another client is using this account. Not reconnecting, so the two do not fight; stop the other client, then start this session again. The creds are kept.'
    case 403:
      return 'Forbidden (403): the server refused this account or device. Not reconnecting; the creds are kept. Check the account on the phone.'
    case 411:
      return 'Multi-device mismatch (411): the server refused this client version or device. Not reconnecting; the creds are kept.'
    default:
      return `Closed with code ${code ?? 'none'}, which the policy marks as final. The creds are kept.`
  }
}
