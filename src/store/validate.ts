import { invalidArgument } from '../core/errors.js'
import { INTERNAL_TYPE_PREFIX } from './internal-types.js'

const MAX_SESSION_LENGTH = 128
const MAX_ID_LENGTH = 512
const TYPE_PATTERN = /^[a-z][a-z0-9-]{0,63}$/

// Control characters would corrupt file names, log lines and terminal output.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/

/** Lone surrogates would be replaced by U+FFFD in PostgreSQL and Redis: two ids, one key. */
const wellFormed = (s: string) => (s as string & { isWellFormed(): boolean }).isWellFormed()

/**
 * Sessions named `.staging:<target>` are written by migrate and restore while they copy, and
 * made visible as <target> in one atomic step (Store.rename). The prefix is reserved: users
 * cannot open or create such a session, sessions() does not list them, and a leftover one is
 * an interrupted copy (ls and doctor report it; drop removes it).
 */
export const STAGING_PREFIX = '.staging:'
export const isStagingSession = (session: string): boolean => session.startsWith(STAGING_PREFIX)
export const stagingSessionOf = (target: string): string => `${STAGING_PREFIX}${target}`

export interface SessionIdOptions {
  /** Accept a `.staging:` session (tools that read, copy or drop them). Default: refused. */
  staging?: boolean
}

export function assertSessionId(session: unknown, options: SessionIdOptions = {}): asserts session is string {
  const staging = typeof session === 'string' && isStagingSession(session)
  const own = staging && options.staging ? session.slice(STAGING_PREFIX.length) : session
  if (typeof own !== 'string' || own.length === 0 || own.length > MAX_SESSION_LENGTH || CONTROL.test(own) || !wellFormed(own)) {
    throw invalidArgument(
      `Session id must be a non-empty string of at most ${MAX_SESSION_LENGTH} characters without control characters or broken Unicode; got ${describe(session)}.`
    )
  }
  if (staging && !options.staging) {
    throw invalidArgument(
      `Session ids starting with "${STAGING_PREFIX}" are reserved for the partial copies of migrate and restore; pick another id. (To remove a leftover one: baileys-vault drop <url> --session <id>.)`
    )
  }
}

export function assertKeyType(type: unknown): asserts type is string {
  if (typeof type !== 'string' || !TYPE_PATTERN.test(type)) {
    throw invalidArgument(`Key type must look like "pre-key" or "session" (lowercase letters, digits, '-'); got ${describe(type)}.`)
  }
}

export function assertKeyId(type: string, id: unknown): asserts id is string {
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_ID_LENGTH || id.includes('\u0000') || !wellFormed(id)) {
    throw invalidArgument(
      `Key id for type "${type}" must be a non-empty, well-formed Unicode string of at most ${MAX_ID_LENGTH} characters without NUL; got ${describe(id)}.`
    )
  }
}

/**
 * A type Baileys may read or write through the auth state: never one of the store's own
 * (internal-types.ts), so the retry store stays out of Baileys' reach whatever it asks for.
 */
export function assertSignalType(type: unknown): asserts type is string {
  assertKeyType(type)
  if (type.startsWith(INTERNAL_TYPE_PREFIX)) {
    throw invalidArgument(
      `Key type "${type}" is reserved for baileys-vault's own records (types starting with "${INTERNAL_TYPE_PREFIX}"); Baileys' key store cannot read or write it.`
    )
  }
}

const describe = (value: unknown): string => (typeof value === 'string' ? `a string of length ${value.length}` : value === null ? 'null' : typeof value)
