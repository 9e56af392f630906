import { invalidArgument } from '../../core/errors.js'
import { migrate } from '../../tools/migrate.js'
import { selectSessions } from '../../tools/sessions.js'
import { EXIT_OK, EXIT_PROBLEMS, type Command, FORCE_USAGE } from '../command.js'
import { positionals, sessionsAndRename } from '../args.js'
import { copiedSessionLine, formatCounts, plural, printJson } from '../format.js'
import { listNames } from '../../tools/ignored-files.js'
import { openCliStore, sameStore } from '../open.js'
import { progressBar } from '../progress.js'

/** Keys a dry run names one by one before it only counts the rest. */
const SHOWN = 50

export const migrateCommand: Command = {
  name: 'migrate',
  summary: 'Copy sessions between any two stores, then verify every key on the target',
  usage:
    'baileys-vault migrate <from-url> <to-url> [--session <id>…] [--dry-run] [--overwrite] [--force] [--json]\n' +
    FORCE_USAGE +
    '  A live bot on a target makes it refuse (LEASE_HELD). The source is only read.\n' +
    '  --dry-run    count and check, write nothing\n' +
    '  --overwrite  replace target sessions that already hold data (default: refuse)\n' +
    '  --as <id>    target session id, when one session is migrated (a Baileys folder is session "default")\n' +
    '  Exit 1 when verification found a mismatch (or, with --dry-run, a target session would be refused).',
  valueFlags: ['session', 'as'],
  flags: ['dry-run', 'overwrite', 'force'],
  async run(args, ctx) {
    const [fromUrl, toUrl] = positionals(args, ['from-url', 'to-url'])
    if (sameStore(fromUrl, toUrl)) throw invalidArgument('The source and the target are the same store; migrate copies between two different stores.')
    const from = await openCliStore(fromUrl, ctx, { readOnly: true })
    const bar = progressBar(ctx, 'migrate')
    try {
      const to = await openCliStore(toUrl, ctx)
      try {
        const dryRun = args.flags['dry-run'] === true
        const { sessions, rename } = await sessionsAndRename(args, () => selectSessions(from))
        const result = await migrate(from, to, {
          sessions,
          dryRun,
          force: args.flags.force === true,
          overwrite: args.flags.overwrite === true,
          rename,
          onProgress: bar.listener
        })
        bar.end()
        if (ctx.json) printJson(ctx.stdout, result)
        else {
          const out = [`${dryRun ? 'dry run: ' : ''}${result.from} -> ${result.to}`]
          for (const s of result.sessions) {
            out.push(copiedSessionLine({ session: s, dryRun, overwrite: args.flags.overwrite === true, verb: 'copy' }))
            out.push(`  ${formatCounts(s.counts)}`)
            if (s.wouldDelete) {
              const { creds, keys } = s.wouldDelete
              out.push(`  would delete from ${result.to} session "${s.target}": ${creds ? 'creds + ' : ''}${plural(keys.length, 'key')}`)
              for (const [type, id] of keys.slice(0, SHOWN)) out.push(`    ${type} ${id}`)
              if (keys.length > SHOWN) out.push(`    … ${keys.length - SHOWN} more (--json lists all)`)
            }
            if (s.targetIgnored) out.push(`  kept, not baileys-vault's (never touched): ${listNames(s.targetIgnored)}`)
            if (!dryRun) {
              out.push(
                s.mismatchCount === 0
                  ? `  verified: ${s.verified} of ${s.keys + (s.creds ? 1 : 0)} values read back and equal`
                  : `  VERIFY FAILED: ${plural(s.mismatchCount, 'mismatch')}`
              )
              for (const m of s.mismatches.slice(0, 20))
                out.push(`    ${m.reason} ${m.type}${m.id === undefined ? '' : ` "${m.id}"`}${m.detail ? ` (${m.detail})` : ''}`)
            }
          }
          if (result.sessions.length === 0) out.push('no sessions in the source')
          out.push(
            '',
            `${plural(result.keys, 'key')} in ${plural(result.sessions.length, 'session')}, ${(result.durationMs / 1000).toFixed(1)} s${result.ok ? '' : ' — PROBLEMS, see above'}`
          )
          ctx.stdout.write(out.join('\n') + '\n')
        }
        return result.ok ? EXIT_OK : EXIT_PROBLEMS
      } finally {
        await to.close()
      }
    } finally {
      bar.end()
      await from.close()
    }
  }
}
