import { backup } from '../../tools/backup.js'
import { EXIT_OK, flagList, type Command } from '../command.js'
import { positionals } from '../args.js'
import { formatBytes, formatCounts, plural, printJson } from '../format.js'
import { openCliStore } from '../open.js'
import { progressBar } from '../progress.js'

export const backupCommand: Command = {
  name: 'backup',
  summary: 'Write sessions to one portable, checksummed backup file (gzip JSON lines)',
  usage:
    'baileys-vault backup <url> <file> [--session <id>…] [--overwrite] [--json]\n' +
    '  The file holds the account secrets unencrypted (mode 0600): keep it like the store itself.\n' +
    '  --overwrite  replace an existing file (it is replaced only once the new one is complete)',
  valueFlags: ['session'],
  flags: ['overwrite'],
  async run(args, ctx) {
    const [url, file] = positionals(args, ['url', 'file'])
    const store = await openCliStore(url, ctx, { mustExist: true })
    const bar = progressBar(ctx, 'backup')
    try {
      const result = await backup(store, file, { sessions: flagList(args, 'session'), overwrite: args.flags.overwrite === true, onProgress: bar.listener })
      bar.end()
      if (ctx.json) printJson(ctx.stdout, result)
      else {
        const out = [`${result.store} -> ${result.file}`]
        for (const s of result.sessions) out.push(`${s.session}: ${plural(s.keys, 'key')}${s.creds ? ' + creds' : ' (no creds)'}  (${formatCounts(s.counts)})`)
        out.push(
          '',
          `${plural(result.keys, 'key')} in ${plural(result.sessions.length, 'session')}, ${formatBytes(result.bytes)}, sha256 ${result.sha256.slice(0, 16)}…, ${result.snapshot ? 'consistent snapshot' : 'read live'}, ${(result.durationMs / 1000).toFixed(1)} s`
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
