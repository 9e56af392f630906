import type { UserFacingSocketConfig } from '../core/baileys.js'
import type { LeaseGrant } from '../core/driver.js'
import { invalidArgument } from '../core/errors.js'
import type { AuthStore as Store } from '../auth/auth-store.js'
import type { MessageStore } from '../store/message-store.js'

/**
 * The runtime's side of the retry store (store/message-store.ts): every socket a session opens
 * records what it sends, answers retry receipts from the store after the user's own
 * getMessage, and keeps Baileys' resend counters in the store, so a restart, crash or handoff
 * loses no message a contact asks for again.
 */
export interface MessageRetention {
  /** How long a sent message is kept for a retry (ms). Default 24 h. */
  retainMs?: number
  /** At most this many messages per session, oldest dropped first. Default 5,000. */
  max?: number
}

/** `false` turns the retry store off (a restart then forgets what was sent, as plain Baileys does). */
export type MessagesSetting = MessageRetention | false

export function checkMessagesSetting(setting: unknown): void {
  if (setting === undefined || setting === false) return
  if (typeof setting !== 'object' || setting === null || Array.isArray(setting)) {
    throw invalidArgument('messages must be { retainMs?, max } or false (no retry store).')
  }
  const { retainMs, max } = setting as MessageRetention
  if (retainMs !== undefined && (typeof retainMs !== 'number' || !(retainMs > 0) || !Number.isFinite(retainMs)))
    throw invalidArgument('messages.retainMs must be a positive number of milliseconds (e.g. 86400000 for 24 h).')
  if (max !== undefined && (!Number.isInteger(max) || max < 1)) throw invalidArgument('messages.max must be a positive whole number (e.g. 5000).')
}

export function openRetryStore(
  store: Store,
  sessionId: string,
  setting: MessagesSetting | undefined,
  lease: LeaseGrant | undefined
): Promise<MessageStore | undefined> {
  if (setting === false) return Promise.resolve(undefined)
  return store.useMessageStore(sessionId, { ...setting, lease })
}

type SocketOptions = Partial<Omit<UserFacingSocketConfig, 'auth'>>

/** The store's socket options composed with the user's (MessageStore.socketOptions); nothing with `messages: false`. */
export function retrySocketOptions(messages: MessageStore | undefined, user: SocketOptions = {}): SocketOptions {
  return messages ? messages.socketOptions(user) : {}
}
