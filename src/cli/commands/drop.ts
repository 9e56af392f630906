import { createInterface } from 'node:readline/promises'
import { VaultError } from '../../core/errors.js'
import { assertSessionsExist, sumCounts } from '../../tools/sessions.js'
import { dropSession } from '../../tools/drop.js'
import { assertLeaseFree } from '../../tools/tool-leases.js'
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

const describe = (creds: boolean, keys: number, counts: Record<string, number>) =>
  `${creds ? 'creds and ' : 'no creds, '}${plural(keys, 'key')}${keys > 0 ? `: ${formatCounts(counts)}` : ''}`

export const dropCommand: Command = {
  name: 'drop',
  summary: 'Remove one session (creds and every key) from a store; asks first',
  usage:
    'baileys-vault drop <url> --session <id> [--yes] [--force] [--json]\n' +
    '  A live bot on the session makes it refuse (LEASE_HELD); --force takes a lease that expired\n' +
    '  without a release (a crashed owner), never a live one. On a terminal it asks you to type the\n' +
    '  session id; --yes skips that (needed without a terminal). Also removes the leftovers of an\n' +
    '  interrupted migrate/restore (sessions named .staging:<id>, listed by ls and doctor).',
  valueFlags: ['session'],
  flags: ['yes', 'force'],
  async run(args, ctx) {
    const [url] = positionals(args, ['url'])
    const session = flagString(args, 'session')
    if (session === undefined) throw new UsageError('name the session to remove with --session <id>')
    const yes = args.flags.yes === true
    const force = args.flags.force === true
    const store = await openCliStore(url, ctx, { mustExist: true })
    try {
      await assertSessionsExist(store, [session])
      // Refused before the question: nobody should confirm a drop that cannot happen.
      await assertLeaseFree(store, session, { force })
      if (!yes) {
        if (!process.stdin.isTTY) {
          ctx.stderr.write(`error: drop removes session "${session}" for good and there is no terminal to confirm on; pass --yes to remove it.\n`)
          if (ctx.json) printJson(ctx.stdout, { error: { code: 'USAGE', message: 'no terminal to confirm on; pass --yes' } })
          return EXIT_USAGE
        }
        const counts = await store.countKeys(session)
        const what = describe(await store.hasCreds(session), sumCounts(counts), counts)
        const question = `${store.label} session "${session}": ${what}.\nThis removes it for good (a linked device must be linked again). Type the session id to confirm: `
        if (!(await confirmed(question, session))) throw new VaultError('INVALID_ARGUMENT', `Not confirmed; session "${session}" was left as it is.`)
      }
      const result = await dropSession(store, session, { force })
      if (ctx.json) printJson(ctx.stdout, result)
      else ctx.stdout.write(`${store.label}: removed session "${session}" (${describe(result.creds, result.keys, result.counts)}).\n`)
      return EXIT_OK
    } finally {
      await store.close()
    }
  }
}
