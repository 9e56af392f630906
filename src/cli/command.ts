import { must } from '../core/defined.js'

/**
 * The shape of one CLI command. Each command lives in its own file under cli/commands/, calls
 * a library function from tools/ and only parses, prints and picks the exit code.
 * Exit codes: 0 ok, 1 problems found, 2 usage or I/O error.
 */
export interface Output {
  write(text: string): unknown
  isTTY?: boolean
}

export interface CommandContext {
  stdout: Output
  stderr: Output
  env: NodeJS.ProcessEnv
  /** --json was given: print one JSON document on stdout, no progress bar. */
  json: boolean
  /** Set by long-running commands (sim) that should stay up until the signal arrives. */
  signal?: AbortSignal
}

export interface ParsedArgs {
  positionals: string[]
  /** --flag → true, --key value / --key=value → string; repeated → string[] */
  flags: Record<string, string | boolean | string[]>
}

export interface Command {
  name: string
  summary: string
  usage: string
  /** Flags that take a value (everything else is boolean). */
  valueFlags?: string[]
  /**
   * Boolean flags the command accepts (besides --json and --help). When given, buildCli
   * rejects any other flag as a usage error, so a typo like --dryrun never runs for real.
   */
  flags?: string[]
  run(args: ParsedArgs, ctx: CommandContext): Promise<number>
}

/** The usage line of `--force`, the same on every command that takes a session's lease. */
export const FORCE_USAGE = '  --force  take leases that expired without a release (a crashed owner); a live bot is never overridden (LEASE_HELD).\n'

export const EXIT_OK = 0
export const EXIT_PROBLEMS = 1
export const EXIT_USAGE = 2

/** Thrown by commands for bad usage; buildCli prints the usage and exits 2. */
export class UsageError extends Error {}

export function parseArgs(argv: string[], valueFlags: string[] = []): ParsedArgs {
  const positionals: string[] = []
  const flags: ParsedArgs['flags'] = {}
  const add = (key: string, value: string | boolean) => {
    const prev = flags[key]
    if (prev === undefined || typeof value === 'boolean') flags[key] = value
    else flags[key] = Array.isArray(prev) ? [...prev, value] : typeof prev === 'string' ? [prev, value] : value
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = must(argv[i], 'i < argv.length')
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1))
      break
    }
    if (!arg.startsWith('--')) {
      positionals.push(arg)
      continue
    }
    const eq = arg.indexOf('=')
    const key = arg.slice(2, eq === -1 ? undefined : eq)
    if (eq !== -1) add(key, arg.slice(eq + 1))
    else if (valueFlags.includes(key)) {
      const value = argv[++i]
      if (value === undefined) throw new UsageError(`--${key} needs a value`)
      add(key, value)
    } else add(key, true)
  }
  return { positionals, flags }
}

/** All values of a repeatable flag (`--session a --session b`). */
export function flagList(args: ParsedArgs, key: string): string[] {
  const value = args.flags[key]
  if (value === undefined || typeof value === 'boolean') return []
  return Array.isArray(value) ? value : [value]
}

export function flagString(args: ParsedArgs, key: string): string | undefined {
  const value = args.flags[key]
  if (value === undefined || typeof value === 'boolean') return undefined
  return Array.isArray(value) ? value[value.length - 1] : value
}
