import { createInterface } from 'node:readline/promises'
import { VaultError } from '../../core/errors.js'
import { assertSessionsExist, countKeys, sumCounts } from '../../tools/sessions.js'
import { EXIT_OK, EXIT_USAGE, UsageError, flagString, type Command } from '../command.js'
import { positionals } from '../args.js'
import { formatCounts, plural, printJson } from '../format.js'
import { openCliStore } from '../open.js'

/** Asks on the terminal; true when the user typed the session id exactly. */
async function confirmed(question: string, session: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr })
  try {
    return (await rl.question(question)).trim() === session
  } finally {
    rl.close()
  }
}

export const dropCommand: Command = {
  name: 'drop',
  summary: 'Remove one session (creds and every key) from a store; asks first',
  usage:
    'baileys-vault drop <url> --session <id> [--yes] [--json]\n' +
    '  Stop the bot first. On a terminal it asks you to type the session id; --yes skips that\n' +
    '  (needed without a terminal). Also removes the leftovers of an interrupted migrate/restore\n' +
    '  (sessions named .staging:<id>, listed by ls and doctor).',
  valueFlags: ['session'],
  flags: ['yes'],
  async run(args, ctx) {
    const [url] = positionals(args, ['url'])
    const session = flagString(args, 'session')
    if (session === undefined) throw new UsageError('name the session to remove with --session <id>')
    const yes = args.flags.yes === true
    const store = await openCliStore(url, ctx, { mustExist: true })
    try {
      await assertSessionsExist(store, [session])
      const counts = await countKeys(store, session)
      const creds = await store.hasCreds(session)
      const keys = sumCounts(counts)
      const what = `${creds ? 'creds and ' : 'no creds, '}${plural(keys, 'key')}${keys > 0 ? `: ${formatCounts(counts)}` : ''}`
      if (!yes) {
        if (!process.stdin.isTTY) {
          ctx.stderr.write(`error: drop removes session "${session}" for good and there is no terminal to confirm on; pass --yes to remove it.\n`)
          if (ctx.json) printJson(ctx.stdout, { error: { code: 'USAGE', message: 'no terminal to confirm on; pass --yes' } })
          return EXIT_USAGE
        }
        const question = `${store.label} session "${session}": ${what}.\nThis removes it for good (a linked device must be linked again). Type the session id to confirm: `
        if (!(await confirmed(question, session))) throw new VaultError('INVALID_ARGUMENT', `Not confirmed; session "${session}" was left as it is.`)
      }
      await store.drop(session)
      if (ctx.json) printJson(ctx.stdout, { store: store.label, session, dropped: true, creds, keys, counts })
      else ctx.stdout.write(`${store.label}: removed session "${session}" (${what}).\n`)
      return EXIT_OK
    } finally {
      await store.close()
    }
  }
}
