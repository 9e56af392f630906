import { doctor } from '../../tools/doctor.js'
import { interruptedNote } from '../../tools/staging.js'
import { EXIT_OK, EXIT_PROBLEMS, flagList, type Command } from '../command.js'
import { intFlag, positionals } from '../args.js'
import { NO_SESSIONS, plural, printJson } from '../format.js'
import { openCliStore } from '../open.js'
import { progressBar } from '../progress.js'

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'Check sessions offline (creds, signatures, pre-keys, every stored value); say how to fix each finding',
  usage:
    'baileys-vault doctor <url> [--session <id>…] [--keep <n>] [--json]\n' +
    '  Exit 0 when healthy (info findings are fine), 1 when errors or warnings were found.\n' +
    '  --keep  pre-keys kept below the uploaded window before they count as stale (default 1624)',
  valueFlags: ['session', 'keep'],
  flags: [],
  async run(args, ctx) {
    const [url] = positionals(args, ['url'])
    const keep = intFlag(args, 'keep')
    const store = await openCliStore(url, ctx, { readOnly: true })
    const bar = progressBar(ctx, 'doctor')
    try {
      const result = await doctor(store, { sessions: flagList(args, 'session'), keep, onProgress: bar.listener })
      bar.end()
      if (ctx.json) printJson(ctx.stdout, result)
      else {
        const out: string[] = [result.store]
        const finding = (f: (typeof result.findings)[number]) => {
          out.push(`  ${f.severity.padEnd(7)} ${f.code}: ${f.message}`)
          if (f.ids && (f.count ?? 0) > 1) out.push(`          e.g. ${f.ids.join(', ')}${(f.count ?? 0) > f.ids.length ? ', …' : ''}`)
          if (f.fix) out.push(`          fix: ${f.fix}`)
        }
        result.findings.forEach(finding)
        if (result.sessions.length === 0) out.push(`  ${NO_SESSIONS}. Start the bot and scan the QR code to link one.`)
        const width = Math.max(0, ...result.sessions.map(s => s.session.length))
        for (const s of result.sessions) {
          const errors = s.findings.filter(f => f.severity === 'error').length
          const warnings = s.findings.filter(f => f.severity === 'warning').length
          const state =
            s.status === 'problems'
              ? `problems: ${plural(errors, 'error')}, ${plural(warnings, 'warning')}`
              : s.status === 'unlinked'
                ? 'never linked'
                : s.status === 'empty'
                  ? 'no data (never linked)'
                  : 'healthy'
          out.push(`${s.session.padEnd(width)}  ${state}  (${plural(s.keys, 'key')})`)
          s.findings.forEach(finding)
        }
        for (const s of result.interrupted) out.push(`warning ${interruptedNote(result.store, s)}`)
        const bad = result.sessions.filter(s => s.status === 'problems').length
        out.push(
          '',
          result.ok
            ? `${plural(result.sessions.length, 'session')} checked: no problems.`
            : `${bad > 0 ? `${plural(bad, 'session')} with problems` : 'Store problems'}: ${plural(result.errors, 'error')}, ${plural(result.warnings, 'warning')}.`
        )
        ctx.stdout.write(out.join('\n') + '\n')
      }
      return result.ok ? EXIT_OK : EXIT_PROBLEMS
    } finally {
      bar.end()
      await store.close()
    }
  }
}
