/**
 * The one error type of baileys-vault. `code` is the discriminant callers switch on;
 * the message says what happened and what to do. Messages never contain secrets.
 */
export type VaultErrorCode =
  | 'CORRUPT_DATA'
  | 'UNSUPPORTED_FORMAT'
  | 'DECRYPT_FAILED'
  | 'LEASE_HELD'
  | 'LEASE_LOST'
  | 'BACKEND_UNAVAILABLE'
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  /** The request does not fit the session's current state (already running, not linking, …). */
  | 'CONFLICT'

export class VaultError extends Error {
  override readonly name = 'VaultError'
  constructor(
    readonly code: VaultErrorCode,
    message: string,
    options?: { cause?: unknown }
  ) {
    super(message, options)
  }
}

export const isVaultError = (err: unknown, code?: VaultErrorCode): err is VaultError => err instanceof VaultError && (code === undefined || err.code === code)

/** Human-readable location of a value, used in error messages (never includes the value). */
export const describeLocation = (session: string, type?: string, id?: string): string =>
  type === undefined ? `session "${session}" creds` : `session "${session}" ${type} "${id}"`

export const invalidArgument = (message: string): VaultError => new VaultError('INVALID_ARGUMENT', message)

/** Driver.rename's refusal: the target session already holds data. */
export const renameTargetTaken = (to: string): VaultError =>
  new VaultError('INVALID_ARGUMENT', `Session "${to}" already has creds or keys; rename never replaces a session. Drop it first if it should go.`)

/**
 * The cause to keep for a failed parse of stored data: JSON.parse's message quotes the input
 * ("…"data":#4MpR… is not valid JSON"), the start of a private key when the value is a pre-key,
 * and loggers print causes. Only the error's kind and the position survive.
 */
export function parseErrorCause(err: unknown): Error {
  const position = /position (\d+)/.exec((err as Error)?.message ?? '')?.[1]
  const safe = new Error(
    `${(err as Error)?.name === 'SyntaxError' ? 'invalid JSON' : 'unreadable value'}${position ? ` at position ${position}` : ''} (text not shown)`
  )
  safe.name = (err as Error)?.name === 'SyntaxError' ? 'SyntaxError' : 'Error'
  return safe
}
