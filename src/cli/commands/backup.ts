import { backup } from '../../tools/backup.js'
import { EXIT_OK, flagList, type Command } from '../command.js'
import { positionals } from '../args.js'
import { formatBytes, formatCounts, plural, printJson } from '../format.js'
import { openCliStore } from '../open.js'
import { progressBar } from '../progress.js'

export const backupCommand: Command = {
  name: 'backup',
  summary: 'Write sessions to one portable, checksummed backup file (gzip JSON lines; sealed with the store key)',
  usage:
    'baileys-vault backup <url> <file> [--session <id>…] [--overwrite] [--plaintext] [--include-messages] [--json]\n' +
    '  With BAILEYS_VAULT_KEY set, the file is sealed (AES-256-GCM) under that key; restore needs it.\n' +
    '  Without it the file holds the account secrets unencrypted (mode 0600): keep it like the store.\n' +
    '  --overwrite  replace an existing file (it is replaced only once the new one is complete)\n' +
    '  --plaintext  write an unencrypted file even though the store is encrypted (prints a warning)\n' +
    '  --include-messages  also write the retry store (sent messages kept for retries; left out by default: it is message text)',
  valueFlags: ['session'],
  flags: ['overwrite', 'plaintext', 'include-messages'],
  async run(args, ctx) {
    const [url, file] = positionals(args, ['url', 'file'])
    const plaintext = args.flags.plaintext === true
    const store = await openCliStore(url, ctx, { readOnly: true })
    const bar = progressBar(ctx, 'backup')
    try {
      const encrypted = store.currentKeyId !== undefined
      const result = await backup(store, file, {
        sessions: flagList(args, 'session'),
        overwrite: args.flags.overwrite === true,
        plaintext,
        includeMessages: args.flags['include-messages'] === true,
        onProgress: bar.listener
      })
      bar.end()
      if (plaintext && encrypted) {
        ctx.stderr.write(
          `warning: --plaintext: ${result.file} is NOT encrypted. It holds the account's private keys in the clear: anyone who reads it can impersonate the linked device. Keep it offline, or delete it after use.\n`
        )
      }
      if (ctx.json) printJson(ctx.stdout, result)
      else {
        const out = [`${result.store} -> ${result.file}`]
        for (const s of result.sessions) out.push(`${s.session}: ${plural(s.keys, 'key')}${s.creds ? ' + creds' : ' (no creds)'}  (${formatCounts(s.counts)})`)
        out.push(
          '',
          `${plural(result.keys, 'key')} in ${plural(result.sessions.length, 'session')}, ${formatBytes(result.bytes)}, sha256 ${result.sha256.slice(0, 16)}…, ${result.snapshot ? 'consistent snapshot' : 'read live'}, ${(result.durationMs / 1000).toFixed(1)} s`,
          result.sealed
            ? `sealed: AES-256-GCM under key "${result.keyId}"; restoring it needs that key (BAILEYS_VAULT_KEY or BAILEYS_VAULT_OLD_KEYS)`
            : `not encrypted: the file holds the account's private keys in the clear (mode 0600)${encrypted ? '' : '; set BAILEYS_VAULT_KEY to seal backups'}`
        )
        if (result.note) out.push(`note: ${result.note}`)
        ctx.stdout.write(out.join('\n') + '\n')
      }
      return EXIT_OK
    } finally {
      bar.end()
      await store.close()
    }
  }
}
