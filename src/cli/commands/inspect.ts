import { inspect } from '../../tools/inspect.js'
import { selectSessions } from '../../tools/sessions.js'
import { EXIT_OK, flagString, type Command } from '../command.js'
import { onlySession, positionals } from '../args.js'
import { formatBytes, printJson, table } from '../format.js'
import { listNames } from '../../tools/ignored-files.js'
import { openCliStore } from '../open.js'
import { progressBar } from '../progress.js'

const formatAge = (ms: number) =>
  ms < 60_000 ? `${Math.round(ms / 1000)} s` : ms < 3_600_000 ? `${Math.round(ms / 60_000)} min` : `${(ms / 3_600_000).toFixed(1)} h`

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'Show one session: key counts and sizes by type, creds summary (never private keys)',
  usage: 'baileys-vault inspect <url> [--session <id>] [--json]\n  --session is optional when the store holds exactly one session.',
  valueFlags: ['session'],
  flags: [],
  async run(args, ctx) {
    const [url] = positionals(args, ['url'])
    const store = await openCliStore(url, ctx, { readOnly: true })
    const bar = progressBar(ctx, 'inspect')
    try {
      const session = flagString(args, 'session') ?? (await onlySession(await selectSessions(store)))
      const r = await inspect(store, session, { onProgress: bar.listener })
      bar.end()
      if (ctx.json) {
        printJson(ctx.stdout, r)
        return EXIT_OK
      }
      const s = r.summary
      const c = r.creds
      const lines = [`${r.store} session "${s.session}"`]
      const field = (name: string, value: unknown) => value !== undefined && lines.push(`  ${(name + ':').padEnd(26)}${String(value)}`)
      field('state', s.credsError ? `creds unreadable (${s.credsError})` : s.linked ? 'linked' : s.hasCreds ? 'not linked' : 'no creds')
      if (c) {
        field('me', c.me?.id)
        field('lid', c.me?.lid)
        field('name', c.me?.name)
        field('platform', c.platform)
        field('registered', c.registered)
        field('registration id', c.registrationId)
        field('identity key (public)', c.identityKey)
        field('signed pre-key id', c.signedPreKeyId)
        field('next pre-key id', c.nextPreKeyId)
        field('first unuploaded pre-key', c.firstUnuploadedPreKeyId)
        field(
          'account',
          c.account?.present
            ? `present (key index ${c.account.keyIndex ?? '?'}, signed ${c.account.timestamp ? new Date(c.account.timestamp * 1000).toISOString() : '?'})`
            : 'missing'
        )
        field('app-state key id', c.myAppStateKeyId)
        field('account sync counter', c.accountSyncCounter)
        field('history messages seen', c.processedHistoryMessages)
        field('signal identities', c.signalIdentities)
        field('routing info', c.routingInfoBytes === undefined ? undefined : `${c.routingInfoBytes} bytes`)
        if (c.pairingCodeSet) field('pairing code', 'set (hidden)')
      }
      field('keys', `${s.keys} (${formatBytes(s.bytes)} stored)`)
      const kept = r.retryStore
      if (kept)
        field(
          'retry store',
          `${kept.messages} sent message(s) kept for retries${kept.oldestAgeMs === undefined ? '' : `, oldest ${formatAge(kept.oldestAgeMs)} old, newest ${formatAge(kept.newestAgeMs!)} old`}`
        )
      const rows = Object.entries(s.counts)
        .sort((a, b) => a[0].localeCompare(b[0]))
        .map(([type, n]) => [type, n, formatBytes(r.bytesByType[type] ?? 0)])
      if (rows.length > 0) lines.push('', table(['TYPE', 'KEYS', 'SIZE'], rows).replace(/^/gm, '  '))
      if (r.ignored.length > 0) lines.push('', `  ignored (not baileys-vault's, never touched): ${listNames(r.ignored)}`)
      ctx.stdout.write(lines.join('\n') + '\n')
      return EXIT_OK
    } finally {
      bar.end()
      await store.close()
    }
  }
}
