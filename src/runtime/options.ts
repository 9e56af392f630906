/** startSession's options, checked up front: bad input is INVALID_ARGUMENT, before anything connects. */
import type { UserFacingSocketConfig } from '../core/baileys.js'
import { invalidArgument } from '../core/errors.js'
import type { AuthStore as Store } from '../auth/auth-store.js'
import { assertSessionId } from '../store/validate.js'
import type { RuntimeLogger } from './logger.js'
import type { ReconnectPolicyOptions } from './policy.js'
import type { PreflightOptions } from './preflight.js'
import type { SignalOptions } from './signals.js'
import type { WatchdogOptions } from './watchdog.js'
import { checkConnectDeadline } from './connect-deadline.js'
import { checkLeaseSetting, type LeaseSetting } from './lease.js'
import { checkStoreRetry, type StoreRetryOptions } from './store-outage.js'
import { checkMessagesSetting, type MessagesSetting } from './retry-store.js'

export interface LinkOptions {
  /** Link by an 8-character code typed on the phone instead of a QR (digits, with country code). */
  pairingCode?: { phoneNumber: string }
  /** After a 401 (logged out on the phone) back up, clear, and link a new device at once. Default false: stay `unregistered`. */
  relinkAfterLogout?: boolean
}

export interface SessionOptions {
  /** The makeWASocket options, except `auth` (the runtime supplies it from the store). */
  socket?: Partial<Omit<UserFacingSocketConfig, 'auth'>>
  link?: LinkOptions
  logger?: RuntimeLogger
  policy?: ReconnectPolicyOptions
  watchdog?: WatchdogOptions
  preflight?: PreflightOptions
  /** Folder for the backups taken before a session is cleared (401, logout()). Default './backups'. */
  backupDir?: string
  /** A graceful stop gives up waiting for in-flight work after this long. Default 10,000 ms. */
  stopDeadlineMs?: number
  /**
   * A connection attempt that has neither opened, shown a QR nor closed this long after its socket
   * was made is ended as a 408 and reconnected with backoff (connect-deadline.ts). Default
   * `socket.connectTimeoutMs` + 25 s (45 s with Baileys' default); 0 turns it off.
   */
  connectDeadlineMs?: number
  /**
   * One owner per account: the session takes the store's lease before connecting (default on,
   * TTL 30 s). `{ wait: false }` fails with LEASE_HELD instead of waiting as a standby;
   * `false` turns leases off.
   */
  lease?: LeaseSetting
  /**
   * Drop libsignal's console dumps of whole Signal sessions ("Closing session: SessionEntry {…}",
   * with private keys) for the whole process. Default true; false leaves the console as it is.
   */
  silenceLibsignal?: boolean
  /**
   * While the store is unreachable (or cannot be written) the session waits and tries again:
   * first after `initialMs` (default 1 s), doubling up to `maxMs` (default 30 s), with jitter.
   */
  storeRetry?: StoreRetryOptions
  /** The retry store: sent messages kept for contacts' retry receipts (default { retainMs: 24 h, max: 5,000 }); false: off. */
  messages?: MessagesSetting
}

export interface StartSessionOptions extends SessionOptions {
  store: Store
  sessionId: string
  /** SIGTERM/SIGINT stop the session gracefully (a second signal forces the exit). Default false. */
  handleSignals?: boolean | SignalOptions
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

export function checkSessionOptions(options: SessionOptions): void {
  if (options.socket !== undefined) {
    if (!isObject(options.socket)) throw invalidArgument('socket must be an object of makeWASocket options.')
    if ('auth' in options.socket) throw invalidArgument('socket.auth is supplied by the runtime from the store; leave it out.')
  }
  if (options.link !== undefined && !isObject(options.link)) throw invalidArgument('link must be an object: { pairingCode?: { phoneNumber } }.')
  const phone = (options.link?.pairingCode as { phoneNumber?: unknown } | undefined)?.phoneNumber
  if (options.link?.pairingCode !== undefined && (typeof phone !== 'string' || !/^\d{6,15}$/.test(phone))) {
    throw invalidArgument('link.pairingCode.phoneNumber must be the full number in digits with country code, no + or spaces (e.g. "15551234567").')
  }
  if (options.backupDir !== undefined && (typeof options.backupDir !== 'string' || options.backupDir === ''))
    throw invalidArgument('backupDir must be a folder path.')
  const deadline = options.stopDeadlineMs
  if (deadline !== undefined && (typeof deadline !== 'number' || !Number.isFinite(deadline) || deadline < 0))
    throw invalidArgument('stopDeadlineMs must be a non-negative number.')
  checkConnectDeadline(options.connectDeadlineMs)
  checkLeaseSetting(options.lease)
  checkStoreRetry(options.storeRetry)
  checkMessagesSetting(options.messages)
  if (options.logger !== undefined && (!isObject(options.logger) || typeof options.logger.info !== 'function'))
    throw invalidArgument('logger must be a pino-style logger.')
}

export function checkStartOptions(options: StartSessionOptions): void {
  if (!isObject(options)) throw invalidArgument('startSession needs an options object: { store, sessionId, … }.')
  if (!options.store || typeof (options.store as Store).useAuthState !== 'function') throw invalidArgument('store must be a Store from openStore().')
  if (typeof options.sessionId !== 'string') throw invalidArgument('sessionId must be a string.')
  assertSessionId(options.sessionId)
  checkSessionOptions(options)
}
