import { restore, verifyBackup } from '../../tools/restore.js'
import { readBackupHeader } from '../../tools/backup-format.js'
import { encryptionFromEnv } from '../../codec/seal.js'
import { EXIT_OK, EXIT_PROBLEMS, type Command, FORCE_USAGE } from '../command.js'
import { positionals, sessionsAndRename } from '../args.js'
import { copiedSessionLine, formatCounts, plural, printJson } from '../format.js'
import { openCliStore } from '../open.js'
import { progressBar } from '../progress.js'

export const restoreCommand: Command = {
  name: 'restore',
  summary: 'Restore a backup file into a store (the whole file is decrypted and verified before anything is written)',
  usage:
    'baileys-vault restore <file> <url> [--session <id>…] [--as <id>] [--overwrite] [--dry-run] [--plaintext] [--force] [--json]\n' +
    FORCE_USAGE +
    '  A sealed backup opens with BAILEYS_VAULT_KEY or one of BAILEYS_VAULT_OLD_KEYS.\n' +
    '  --overwrite  replace target sessions that already hold data (default: refuse)\n' +
    '  --as <id>    target session id, when one session is restored\n' +
    '  --dry-run    verify the file and check the target, write nothing\n' +
    '  --plaintext  write the target unencrypted; BAILEYS_VAULT_KEY then only opens the backup',
  valueFlags: ['session', 'as'],
  flags: ['overwrite', 'dry-run', 'plaintext', 'force'],
  async run(args, ctx) {
    const [file, url] = positionals(args, ['file', 'url'])
    const encryption = encryptionFromEnv(ctx.env)
    // A damaged file, or a sealed one without its key, is refused before the target is even
    // opened (opening may create it).
    const verified = await verifyBackup(file, { encryption })
    const plaintext = args.flags.plaintext === true
    const store = await openCliStore(url, plaintext ? { ...ctx, env: { ...ctx.env, BAILEYS_VAULT_KEY: undefined, BAILEYS_VAULT_OLD_KEYS: undefined } } : ctx)
    const bar = progressBar(ctx, 'restore')
    try {
      if (plaintext && (verified.sealed || encryption)) {
        ctx.stderr.write(`warning: --plaintext: ${store.label} is written unencrypted; the restored private keys are stored in the clear.\n`)
      }
      const dryRun = args.flags['dry-run'] === true
      const { sessions, rename } = await sessionsAndRename(args, async () => (await readBackupHeader(file, { encryption })).sessions)
      const result = await restore(file, store, {
        sessions,
        force: args.flags.force === true,
        overwrite: args.flags.overwrite === true,
        dryRun,
        rename,
        encryption,
        onProgress: bar.listener
      })
      bar.end()
      if (ctx.json) printJson(ctx.stdout, result)
      else {
        const out = [`${dryRun ? 'dry run: ' : ''}${result.file} (taken ${result.createdAt}${result.snapshot ? '' : ', read live'}) -> ${result.to}`]
        out.push(
          result.sealed
            ? `backup file verified: decrypted with key "${result.keyId}", every chunk authentic; gzip, JSON, checksum and counts are intact`
            : 'backup file verified: gzip, JSON, checksum and counts are intact'
        )
        for (const s of result.sessions) {
          out.push(`${copiedSessionLine({ session: s, dryRun, overwrite: args.flags.overwrite === true, verb: 'restore' })}  (${formatCounts(s.counts)})`)
          if (!dryRun) {
            out.push(s.mismatchCount === 0 ? `  verified: ${s.verified} values read back and equal` : `  VERIFY FAILED: ${plural(s.mismatchCount, 'mismatch')}`)
            for (const m of s.mismatches.slice(0, 20)) out.push(`    ${m.reason} ${m.type}${m.id === undefined ? '' : ` "${m.id}"`}`)
          }
        }
        out.push('', `${plural(result.keys, 'key')} in ${plural(result.sessions.length, 'session')}, ${(result.durationMs / 1000).toFixed(1)} s`)
        ctx.stdout.write(out.join('\n') + '\n')
      }
      return result.ok ? EXIT_OK : EXIT_PROBLEMS
    } finally {
      bar.end()
      await store.close()
    }
  }
}
