/**
 * Key types the store writes for itself beside a session's Signal keys, under reserved names
 * Baileys never uses (its ten types are fixed by SignalDataTypeMap): the auth state refuses
 * them, so Baileys can neither read nor overwrite them, and the tools know them by name.
 */
export const INTERNAL_TYPE_PREFIX = 'vault-'
/** Messages the session sent, kept so a contact's retry receipt can be answered (message-store.ts). */
export const MESSAGE_TYPE = 'vault-message'
/** Baileys' resend counters (msgRetryCounterCache), kept so a crash loop cannot reset them. */
export const RETRY_COUNT_TYPE = 'vault-retry-count'

export const isInternalType = (type: string): boolean => type.startsWith(INTERNAL_TYPE_PREFIX)
/** Types whose values are conversation content: backup leaves them out unless asked, inspect shows counts and ages only. */
export const isMessageType = (type: string): boolean => type === MESSAGE_TYPE || type === RETRY_COUNT_TYPE
