import { ls } from '../../tools/inspect.js'
import { interruptedNote } from '../../tools/staging.js'
import { EXIT_OK, type Command } from '../command.js'
import { positionals } from '../args.js'
import { NO_SESSIONS, formatBytes, formatCounts, printJson, table } from '../format.js'
import { openCliStore } from '../open.js'
import { progressBar } from '../progress.js'

export const lsCommand: Command = {
  name: 'ls',
  summary: 'List the sessions of a store: phone/LID, linked or not, key counts, size',
  usage: 'baileys-vault ls <url> [--json]',
  flags: [],
  async run(args, ctx) {
    const [url] = positionals(args, ['url'])
    const store = await openCliStore(url, ctx, { readOnly: true })
    const bar = progressBar(ctx, 'ls')
    try {
      const result = await ls(store, { onProgress: bar.listener })
      bar.end()
      if (ctx.json) printJson(ctx.stdout, result)
      else if (result.sessions.length === 0) ctx.stdout.write(`${result.store}: ${NO_SESSIONS}\n`)
      else {
        const rows = result.sessions.map(s => [
          s.session,
          s.phone ?? '-',
          s.lid ?? '-',
          s.credsError ? `creds ${s.credsError}` : s.linked ? 'linked' : s.hasCreds ? 'not linked' : 'no creds',
          s.keys,
          formatBytes(s.bytes),
          formatCounts(s.counts)
        ])
        ctx.stdout.write(`${result.store}\n${table(['SESSION', 'PHONE', 'LID', 'STATE', 'KEYS', 'SIZE', 'TYPES'], rows)}\n`)
      }
      if (!ctx.json) for (const s of result.interrupted) ctx.stdout.write(`${interruptedNote(result.store, s)}\n`)
      return EXIT_OK
    } finally {
      bar.end()
      await store.close()
    }
  }
}
