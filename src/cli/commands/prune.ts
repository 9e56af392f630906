import { prune } from '../../tools/prune.js'
import { selectSessions } from '../../tools/sessions.js'
import { EXIT_OK, flagString, type Command, FORCE_USAGE } from '../command.js'
import { intFlag, onlySession, positionals } from '../args.js'
import { printJson } from '../format.js'
import { openCliStore } from '../open.js'
import { progressBar } from '../progress.js'

export const pruneCommand: Command = {
  name: 'prune',
  summary: 'Remove pre-keys Baileys can never use again (below the uploaded window, never consumed)',
  usage:
    'baileys-vault prune <url> [--session <id>] [--dry-run] [--keep <n>] [--messages] [--force] [--json]\n' +
    '  --messages  also drop the retry store (sent messages kept so contacts can ask for them again)\n' +
    FORCE_USAGE +
    '  A live bot makes it refuse (LEASE_HELD). --session is optional when the store holds exactly one session.\n' +
    '  --keep  pre-keys kept below firstUnuploadedPreKeyId (default 1624, minimum 817)',
  valueFlags: ['session', 'keep'],
  flags: ['dry-run', 'force', 'messages'],
  async run(args, ctx) {
    const [url] = positionals(args, ['url'])
    const keep = intFlag(args, 'keep')
    const store = await openCliStore(url, ctx, { mustExist: true })
    const bar = progressBar(ctx, 'prune')
    try {
      const session = flagString(args, 'session') ?? (await onlySession(await selectSessions(store)))
      const dryRun = args.flags['dry-run'] === true
      const r = await prune(store, session, {
        dryRun,
        keep,
        messages: args.flags.messages === true,
        force: args.flags.force === true,
        onProgress: bar.listener
      })
      bar.end()
      if (ctx.json) printJson(ctx.stdout, r)
      else {
        const n = r.removed['pre-key']
        const stale = n === 0 ? 'no stale pre-keys' : `${n} stale pre-key${n === 1 ? '' : 's'} (ids ${r.range![0]}–${r.range![1]}, all below ${r.staleBelow})`
        const what = r.removed.messages === undefined ? stale : `${stale} and ${r.removed.messages} kept message${r.removed.messages === 1 ? '' : 's'}`
        ctx.stdout.write(
          `${r.store} session "${r.session}": ${dryRun ? 'would remove' : 'removed'} ${what}; ${r.remaining} pre-keys ${dryRun ? 'would remain' : 'remain'}.\n`
        )
      }
      return EXIT_OK
    } finally {
      bar.end()
      await store.close()
    }
  }
}
