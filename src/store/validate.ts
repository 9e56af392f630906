import { invalidArgument } from '../core/errors.js'

const MAX_SESSION_LENGTH = 128
const MAX_ID_LENGTH = 512
const TYPE_PATTERN = /^[a-z][a-z0-9-]{0,63}$/

// Control characters would corrupt file names, log lines and terminal output.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/

/** Lone surrogates would be replaced by U+FFFD in PostgreSQL and Redis: two ids, one key. */
const wellFormed = (s: string) => (s as string & { isWellFormed(): boolean }).isWellFormed()

export function assertSessionId(session: unknown): asserts session is string {
  if (typeof session !== 'string' || session.length === 0 || session.length > MAX_SESSION_LENGTH || CONTROL.test(session) || !wellFormed(session)) {
    throw invalidArgument(
      `Session id must be a non-empty string of at most ${MAX_SESSION_LENGTH} characters without control characters or broken Unicode; got ${describe(session)}.`
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
    throw invalidArgument(`Key id for type "${type}" must be a non-empty, well-formed Unicode string of at most ${MAX_ID_LENGTH} characters without NUL; got ${describe(id)}.`)
  }
}

const describe = (value: unknown): string =>
  typeof value === 'string' ? `a string of length ${value.length}` : value === null ? 'null' : typeof value
