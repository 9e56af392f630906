import { UsageError, flagList, flagString, type ParsedArgs } from './command.js'

/** The positional arguments, exactly `names.length` of them (typed as that many strings). */
export function positionals<const N extends readonly string[]>(args: ParsedArgs, names: N): { [K in keyof N]: string } {
  const got = args.positionals
  if (got.length < names.length)
    throw new UsageError(
      `missing ${names
        .slice(got.length)
        .map(n => `<${n}>`)
        .join(' ')}`
    )
  if (got.length > names.length) throw new UsageError(`unexpected argument "${got[names.length]}"`)
  return got as unknown as { [K in keyof N]: string } // the length was checked just above
}

export function intFlag(args: ParsedArgs, key: string): number | undefined {
  const raw = flagString(args, key)
  if (raw === undefined) {
    if (args.flags[key] === true) throw new UsageError(`--${key} needs a number`)
    return undefined
  }
  const n = /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : NaN
  if (!Number.isSafeInteger(n)) throw new UsageError(`--${key} must be an integer; got "${raw}"`)
  return n
}

/** The session to use when --session is omitted: the only one, else a usage error naming them. */
export async function onlySession(sessions: string[]): Promise<string> {
  const [only, ...others] = sessions
  if (only !== undefined && others.length === 0) return only
  if (sessions.length === 0) throw new UsageError('the store has no sessions')
  throw new UsageError(
    `the store has ${sessions.length} sessions; pick one with --session (${sessions.slice(0, 5).join(', ')}${sessions.length > 5 ? ', …' : ''})`
  )
}

/**
 * `--session` (repeatable) and `--as <id>` of migrate/restore: the sessions to copy and the
 * rename map. `--as` renames one session: the one named, or the only one `available()` lists.
 */
export async function sessionsAndRename(
  args: ParsedArgs,
  available: () => Promise<string[]>
): Promise<{ sessions: string[]; rename?: Record<string, string> }> {
  const sessions = flagList(args, 'session')
  const as = flagString(args, 'as')
  if (as === undefined) return { sessions }
  if (sessions.length > 1) throw new UsageError('--as renames one session; give at most one --session')
  return { sessions, rename: { [sessions[0] ?? (await onlySession(await available()))]: as } }
}
