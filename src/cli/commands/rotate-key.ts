import { rotateKey } from '../../tools/rotate-key.js'
import { EXIT_OK, EXIT_PROBLEMS, flagList, UsageError, type Command, FORCE_USAGE } from '../command.js'
import { positionals } from '../args.js'
import { printJson } from '../format.js'
import { openCliStore } from '../open.js'
import { progressBar } from '../progress.js'

export const rotateKeyCommand: Command = {
  name: 'rotate-key',
  summary: 'Re-encrypt every value under the current key (BAILEYS_VAULT_KEY); resumable',
  usage:
    'baileys-vault rotate-key <url> [--session <id>…] [--force] [--json]\n' +
    FORCE_USAGE +
    '  BAILEYS_VAULT_KEY=<base64 or id:base64>      the key to seal with\n' +
    '  BAILEYS_VAULT_OLD_KEYS=<key>[,<key>…]         keys values may still be sealed with\n' +
    '  Plaintext values are sealed too. A live bot makes it refuse (LEASE_HELD). Safe to run again after an interruption.',
  valueFlags: ['session'],
  flags: ['force'],
  async run(args, ctx) {
    const [url] = positionals(args, ['url'])
    if (!ctx.env.BAILEYS_VAULT_KEY) throw new UsageError('set BAILEYS_VAULT_KEY to the key to encrypt with (old keys in BAILEYS_VAULT_OLD_KEYS)')
    const store = await openCliStore(url, ctx, { mustExist: true })
    const bar = progressBar(ctx, 'rotate-key')
    try {
      const r = await rotateKey(store, { sessions: flagList(args, 'session'), force: args.flags.force === true, onProgress: bar.listener })
      bar.end()
      if (ctx.json) printJson(ctx.stdout, r)
      else {
        for (const s of r.sessions)
          ctx.stdout.write(`session "${s.session}": ${s.resealed} re-encrypted, ${s.alreadyCurrent} already under "${r.currentKeyId}"\n`)
        ctx.stdout.write(
          r.complete
            ? `${r.store}: every value is sealed with "${r.currentKeyId}"; older keys can be removed.\n`
            : `${r.store}: some values are still not under "${r.currentKeyId}"; run rotate-key again.\n`
        )
      }
      return r.complete ? EXIT_OK : EXIT_PROBLEMS
    } finally {
      bar.end()
      await store.close()
    }
  }
}
