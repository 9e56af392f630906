import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { VaultError } from '../core/errors.js'
import { EXIT_USAGE, UsageError, parseArgs, type Command, type CommandContext, type Output } from './command.js'

/**
 * Commands, loaded on first use (so `ls` does not load the simulator). One file per command
 * under cli/commands/; to add one, add a line here.
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  ls: async () => (await import('./commands/ls.js')).lsCommand,
  inspect: async () => (await import('./commands/inspect.js')).inspectCommand,
  doctor: async () => (await import('./commands/doctor.js')).doctorCommand,
  migrate: async () => (await import('./commands/migrate.js')).migrateCommand,
  backup: async () => (await import('./commands/backup.js')).backupCommand,
  restore: async () => (await import('./commands/restore.js')).restoreCommand,
  prune: async () => (await import('./commands/prune.js')).pruneCommand,
  'rotate-key': async () => (await import('./commands/rotate-key.js')).rotateKeyCommand,
  drop: async () => (await import('./commands/drop.js')).dropCommand,
  run: async () => (await import('./commands/run.js')).runCommand,
  demo: async () => (await import('./commands/demo.js')).demoCommand,
  sim: async () => (await import('./commands/sim.js')).simCommand
}

/** Flags every command takes. */
const COMMON_FLAGS = ['json', 'help']

export interface CliIo {
  stdout?: Output
  stderr?: Output
  env?: NodeJS.ProcessEnv
  signal?: AbortSignal
}

/**
 * The package's version: from the nearest package.json named baileys-vault above this file,
 * which sits at dist/cli in the package and at build/src/cli in the test build.
 */
function version(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
      if (pkg.name === 'baileys-vault') return String(pkg.version)
    } catch {
      // no readable package.json here: keep climbing
    }
    if (dirname(dir) === dir) return 'unknown'
  }
}

async function helpText(): Promise<string> {
  const lines = ['Usage: baileys-vault <command> [arguments] [--json] [--help]', '', 'Commands:']
  for (const [name, load] of Object.entries(COMMANDS)) {
    const cmd = await load()
    lines.push(`  ${name.padEnd(11)} ${cmd.summary}`)
  }
  lines.push(
    '',
    'Store URLs: memory:, file:<folder> (Baileys multi-file layout), sqlite:<path>,',
    '            postgres://user:pass@host/db, redis://host:port',
    'Exit codes: 0 ok, 1 problems found, 2 usage or I/O error.',
    'Run `baileys-vault <command> --help` for the options of one command.'
  )
  return lines.join('\n') + '\n'
}

/**
 * The CLI as a function: `argv` without node and the script (process.argv.slice(2)).
 * Returns the exit code; tests call it in-process with captured outputs.
 */
export async function buildCli(argv: readonly string[], io: CliIo = {}): Promise<number> {
  const stdout: Output = io.stdout ?? process.stdout
  const stderr: Output = io.stderr ?? process.stderr
  const at = argv.findIndex(a => !a.startsWith('-'))
  const before = at === -1 ? [...argv] : argv.slice(0, at)
  const json = argv.includes('--json')
  const name = argv[at]

  if (name === undefined) {
    if (before.includes('--version')) {
      stdout.write(`${version()}\n`)
      return 0
    }
    const help = await helpText()
    if (before.includes('--help') || before.includes('-h')) {
      stdout.write(help)
      return 0
    }
    stderr.write(help)
    return EXIT_USAGE
  }

  const load = COMMANDS[name]
  if (!load) {
    stderr.write(`error: unknown command "${name}"\n\n${await helpText()}`)
    return EXIT_USAGE
  }
  const command = await load()
  const ctx: CommandContext = { stdout, stderr, env: io.env ?? process.env, json, signal: io.signal }
  try {
    const unknownBefore = before.filter(a => a !== '--json' && a !== '--help' && a !== '-h')
    if (unknownBefore.length > 0) throw new UsageError(`put options after the command: ${unknownBefore.join(' ')}`)
    const rest = argv.slice(at + 1)
    if (before.includes('--help') || before.includes('-h') || rest.includes('--help') || rest.includes('-h')) {
      stdout.write(`${command.usage}\n`)
      return 0
    }
    const args = parseArgs([...rest], command.valueFlags)
    if (command.flags) {
      const allowed = new Set([...COMMON_FLAGS, ...command.flags, ...(command.valueFlags ?? [])])
      const unknown = Object.keys(args.flags).filter(f => !allowed.has(f))
      if (unknown.length > 0) throw new UsageError(`unknown option ${unknown.map(f => `--${f}`).join(', ')}`)
      for (const f of command.flags) {
        if (args.flags[f] !== undefined && args.flags[f] !== true) throw new UsageError(`--${f} takes no value`)
      }
    }
    delete args.flags.json
    return await command.run(args, ctx)
  } catch (err) {
    return report(err, ctx, command)
  }
}

/** Usage errors and VaultErrors (I/O, bad data, refused operations) exit 2 with a message on stderr. */
function report(err: unknown, ctx: CommandContext, command: Command): number {
  if (err instanceof UsageError) {
    ctx.stderr.write(`error: ${err.message}\nusage: ${command.usage}\n`)
    if (ctx.json) ctx.stdout.write(JSON.stringify({ error: { code: 'USAGE', message: err.message } }) + '\n')
    return EXIT_USAGE
  }
  const code = err instanceof VaultError ? err.code : 'UNEXPECTED'
  const message = err instanceof Error ? err.message : String(err)
  ctx.stderr.write(`error: ${message}\n`)
  if (!(err instanceof VaultError) && ctx.env.BAILEYS_VAULT_DEBUG && err instanceof Error && err.stack) ctx.stderr.write(`${err.stack}\n`)
  if (ctx.json) ctx.stdout.write(JSON.stringify({ error: { code, message } }) + '\n')
  return EXIT_USAGE
}
