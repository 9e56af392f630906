/**
 * `baileys-vault run` end to end: the built bin in a child process against `baileys-vault sim` in
 * another, driven only through `run --json` events and the simulator's HTTP control API. Linking
 * (QR and pairing code), a --bot that replies, reconnects without a QR, /readyz and /metrics,
 * scheduled backups, SIGTERM then a restart that continues the conversation, a logout (401) that
 * backs up and exits 1, and bad input that exits 2 without touching the store.
 * Every wait is for an event, bounded; nothing sleeps.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import { LEDGER_FILE } from '../../src/runtime/backup-schedule.js'
import { openStore } from '../../src/open-store.js'
import { verifyBackup } from '../../src/tools/restore.js'
import { freshPostgres } from '../helpers/servers.js'
import { runCli } from '../helpers/tools-cli.js'
import { converse, ECHO_BOT, entered, linkByQr, spawnCli, startSimChild, type CliChild, type SimChild } from '../helpers/run-child.js'
import { useTempDirs } from '../helpers/temp-dirs.js'

const CONTACT = '15550004242'
const README = fileURLToPath(new URL('../../../README.md', import.meta.url))

interface Family {
  name: string
  type: string
  metrics: Array<{ labels?: Record<string, string>; value?: string; buckets?: Record<string, string> }>
}

async function scrape(url: string): Promise<Map<string, Family>> {
  const res = await fetch(`${url}/metrics`)
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/)
  const families = parsePrometheusTextFormat(await res.text()) as Family[]
  return new Map(families.map(f => [f.name, f]))
}

const sample = (families: Map<string, Family>, name: string, labels: Record<string, string>): number => {
  const found = families.get(name)?.metrics.find(m => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
  return found ? Number(found.value) : 0
}

const DOCUMENTED_METRICS = [
  'baileys_vault_session_state',
  'baileys_vault_sessions',
  'baileys_vault_connections_total',
  'baileys_vault_disconnects_total',
  'baileys_vault_reconnect_attempts_total',
  'baileys_vault_messages_total',
  'baileys_vault_decrypt_failures_total',
  'baileys_vault_store_write_seconds',
  'baileys_vault_store_errors_total',
  'baileys_vault_last_backup_timestamp_seconds'
]

const md5 = (file: string) => createHash('md5').update(readFileSync(file)).digest('hex')
const tempDir = useTempDirs('vault-run-e2e-')

async function stopGracefully(run: CliChild): Promise<void> {
  run.kill('SIGTERM')
  const { code } = await run.exited()
  assert.equal(code, 0, `a graceful stop exits 0; stderr: ${run.stderr()}`)
  assert.equal(run.events.filter(e => e.event === 'state').at(-1)?.state, 'stopped')
}

describe('baileys-vault run against baileys-vault sim, as child processes', () => {
  let sim: SimChild
  const children: CliChild[] = []
  const spawnRun = (argv: string[], options: { cwd?: string } = {}) => {
    const child = spawnCli(['run', ...argv, '--json'], options)
    children.push(child)
    return child
  }
  before(async () => {
    sim = await startSimChild()
  })
  after(async () => {
    for (const child of children) child.kill()
    await sim?.stop()
  })

  it(
    'QR linking, a bot that replies, reconnects without a QR, /readyz and /metrics, scheduled backups, SIGTERM, then a restart that continues',
    { timeout: 60_000 },
    async () => {
      const dir = tempDir()
      const url = `sqlite:${join(dir, 'wa.db')}`
      const bot = join(dir, 'bot.mjs')
      writeFileSync(bot, ECHO_BOT)
      const backups = join(dir, 'backups')
      mkdirSync(backups)
      writeFileSync(join(backups, 'notes.txt'), 'not a backup of ours')
      const run = spawnRun(
        [url, ...sim.flags, '--bot', bot, '--http', '127.0.0.1:0', '--backup-dir', 'backups', '--backup-every', '1s', '--backup-keep', '2'],
        { cwd: dir }
      )

      const { url: health } = await run.waitFor(e => e.event === 'http', { what: 'the http event' })
      assert.match(health, /^http:\/\/127\.0\.0\.1:\d+$/)
      const jid = await linkByQr(run, sim)
      assert.equal(await converse(sim, CONTACT, 'ping 1'), 'echo: ping 1')

      // A bot that throws is reported and counted; the session stays up and the bot keeps answering.
      await sim.call('POST', `/contacts/${CONTACT}/send`, { text: 'boom' })
      const failed = await run.waitFor(e => e.event === 'error', { what: "the bot's error" })
      assert.match(failed.message, /the bot failed on purpose/)
      assert.equal(await converse(sim, CONTACT, 'ping 1b'), 'echo: ping 1b')
      assert.equal(run.events.filter(e => e.event === 'state').at(-1)?.state, 'connected')

      const ready = await fetch(`${health}/readyz`)
      assert.equal(ready.status, 200)
      assert.deepEqual(await ready.json(), { ready: true, sessions: [{ session: 'main', state: 'connected', ready: true }] })
      const listed = (await (await fetch(`${health}/sessions`)).json()) as any
      assert.equal(listed.sessions.length, 1)
      assert.equal(listed.sessions[0]?.session, 'main')
      assert.equal(listed.sessions[0]?.state, 'connected')
      assert.ok(!Number.isNaN(Date.parse(listed.sessions[0]?.since)))
      assert.equal(listed.sessions[0]?.stats.messagesIn, 3)
      assert.equal(listed.sessions[0]?.stats.listenerErrors, 1)
      assert.equal((await fetch(`${health}/nowhere`)).status, 404)
      assert.equal((await fetch(`${health}/readyz`, { method: 'POST' })).status, 405)
      assert.equal((await fetch(`${health}/healthz`)).status, 200)

      const before = await scrape(health)
      for (const name of DOCUMENTED_METRICS) assert.ok(before.has(name), `/metrics has ${name}`)
      assert.equal(sample(before, 'baileys_vault_session_state', { session: 'main', state: 'connected' }), 1)
      assert.equal(sample(before, 'baileys_vault_sessions', { state: 'connected' }), 1)
      assert.equal(sample(before, 'baileys_vault_messages_total', { session: 'main', direction: 'in' }), 3)
      assert.ok((before.get('baileys_vault_store_write_seconds')?.metrics[0]?.buckets ?? {})['+Inf'], 'store writes are timed')

      // The server asks for a restart: the session reconnects from the stored creds, no QR.
      let mark = run.events.length
      assert.equal((await sim.call('POST', '/kick', { jid, reason: 'restart' })).body.told, 1)
      await run.waitFor(entered('disconnected'), { from: mark, what: 'disconnected after the kick' })
      const reconnected = await run.waitFor(entered('connected'), { from: mark, what: 'connected after the kick' })
      assert.equal(reconnected.previous, 'connecting')

      // The server goes away for a while: /readyz answers 503 until the session is back.
      mark = run.events.length
      await sim.call('POST', '/restart', { downMs: 3_000 })
      await run.waitFor(entered('disconnected'), { from: mark, what: 'disconnected while the server is down' })
      const notReady = await fetch(`${health}/readyz`)
      assert.equal(notReady.status, 503)
      assert.equal(((await notReady.json()) as any).sessions[0]?.ready, false)
      await run.waitFor(entered('connected'), { from: mark, what: 'connected once the server is back', timeoutMs: 20_000 })
      assert.equal((await fetch(`${health}/readyz`)).status, 200)

      const later = await scrape(health)
      assert.equal(
        sample(later, 'baileys_vault_connections_total', { session: 'main' }),
        sample(before, 'baileys_vault_connections_total', { session: 'main' }) + 2
      )
      assert.equal(
        sample(later, 'baileys_vault_disconnects_total', { session: 'main', reason: '515' }),
        sample(before, 'baileys_vault_disconnects_total', { session: 'main', reason: '515' }) + 1
      )
      assert.ok(
        sample(later, 'baileys_vault_reconnect_attempts_total', { session: 'main' }) >
          sample(before, 'baileys_vault_reconnect_attempts_total', { session: 'main' })
      )
      assert.equal(run.events.filter(e => e.event === 'qr').length, 1, 'no new QR after the first link')

      // Scheduled backups every second, two kept: wait for the third, then stop.
      const third = await run.waitFor(e => e.event === 'backup' && e.scheduled === true, { nth: 3, what: 'the third scheduled backup' })
      assert.ok(third.file.startsWith(`${backups}/`), `the event names the file by its absolute path: ${third.file}`)
      assert.ok(sample(await scrape(health), 'baileys_vault_last_backup_timestamp_seconds', { session: 'main' }) > 0)
      await stopGracefully(run)
      const files = readdirSync(backups).sort()
      const scheduled = files.filter(f => f.endsWith('.vault'))
      assert.ok(scheduled.length >= 1 && scheduled.length <= 2, `at most 2 scheduled backups are kept: ${files}`)
      assert.deepEqual(files.filter(f => !f.endsWith('.vault')).sort(), [LEDGER_FILE, 'notes.txt'].sort())
      assert.equal(readFileSync(join(backups, 'notes.txt'), 'utf8'), 'not a backup of ours')
      for (const file of scheduled) assert.ok((await verifyBackup(join(backups, file))).counts.has('main'), `${file} verifies and holds main`)

      // The same store again: connected from the stored creds, no QR, and the bot still answers.
      const again = spawnRun([url, ...sim.flags, '--bot', bot])
      await again.waitFor(entered('connected'), { what: 'connected after the restart' })
      assert.equal(await converse(sim, CONTACT, 'ping 2'), 'echo: ping 2')
      await stopGracefully(again)
      assert.equal(again.events.filter(e => e.event === 'qr').length, 0, 'no QR after a restart')
    }
  )

  it('pairing-code linking, then a logout (401): a backup that verifies, exit 1', { timeout: 30_000 }, async () => {
    const dir = tempDir()
    const backups = join(dir, 'backups')
    const url = `sqlite:${join(dir, 'wa.db')}`
    const run = spawnRun([url, ...sim.flags, '--session', 'paired', '--pairing-code', sim.phone, '--backup-dir', backups])
    const { code } = await run.waitFor(e => e.event === 'pairing-code', { what: 'the pairing-code event' })
    assert.match(code, /^[A-Z0-9]{8}$/)
    const paired = await sim.call('POST', '/pair-code', { code })
    assert.equal(paired.status, 200, JSON.stringify(paired.body))
    await run.waitFor(entered('connected'), { what: 'connected after the code was entered' })
    assert.equal(run.events.filter(e => e.event === 'qr').length, 0, 'a pairing code, not a QR')

    await sim.call('POST', '/kick', { jid: paired.body.jid, reason: 'logout' })
    const expired = await run.waitFor(entered('expired'), { what: 'expired after the logout' })
    assert.equal(expired.reason.code, 401)
    const backup = await run.waitFor(e => e.event === 'backup', { what: 'the backup event' })
    assert.equal(backup.session, 'paired')
    assert.ok(backup.file.startsWith(backups))
    assert.ok((await verifyBackup(backup.file)).counts.has('paired'), 'the logout backup verifies and holds the session')
    const { code: exitCode } = await run.exited()
    assert.equal(exitCode, 1, `a logged-out session exits 1; stderr: ${run.stderr()}`)
    // The store holds nothing of it now: ls and doctor must not claim it was never linked.
    for (const argv of [
      ['ls', url],
      ['doctor', url]
    ]) {
      const listed = await runCli(argv)
      assert.equal(listed.code, 0, listed.stderr)
      assert.doesNotMatch(listed.stdout, /never linked/, `${argv[0]} after a logout`)
      assert.match(listed.stdout, /logged out/, `${argv[0]} names a logout as a reason the store is empty`)
    }
  })

  it("on PostgreSQL with the README's bot: QR linking, SIGTERM, a restart without a QR that continues the conversation", { timeout: 40_000 }, async () => {
    const pg = await freshPostgres('cli_run')
    try {
      const dir = tempDir()
      const bot = join(dir, 'bot.mjs')
      const readmeBot = /```js\n([\s\S]*?export default[\s\S]*?)```/.exec(readFileSync(README, 'utf8'))?.[1]
      assert.ok(readmeBot, 'the README shows a bot module in a js block')
      writeFileSync(bot, readmeBot)
      const run = spawnRun([pg.url, ...sim.flags, '--bot', bot, '--session', 'pg'])
      await linkByQr(run, sim)
      assert.equal(await converse(sim, CONTACT, 'ping'), 'pong')
      await stopGracefully(run)

      const again = spawnRun([pg.url, ...sim.flags, '--bot', bot])
      await again.waitFor(entered('connected'), { what: 'connected after the restart' })
      assert.equal(await converse(sim, CONTACT, 'ping'), 'pong')
      await stopGracefully(again)
      assert.equal(again.events.filter(e => e.event === 'qr').length, 0)
    } finally {
      await pg.cleanup()
    }
  })

  it('bad input exits 2 with a clear message and writes nothing', { timeout: 30_000 }, async () => {
    const dir = tempDir()
    const db = join(dir, 'never.db')
    const url = `sqlite:${db}`
    writeFileSync(join(dir, 'no-default.mjs'), 'export const handler = () => {}\n')
    const emptyDb = join(dir, 'empty.db')
    await (await openStore(`sqlite:${emptyDb}`)).close()
    const emptyBefore = md5(emptyDb)
    const busy = createServer()
    await new Promise<void>(resolve => busy.listen(0, '127.0.0.1', resolve))
    const busyPort = (busy.address() as AddressInfo).port
    const backups = join(dir, 'backups')
    try {
      const cases: Array<[string[], RegExp]> = [
        [[url, '--bogus'], /unknown option --bogus/],
        [[url, '--backup-dir', backups, '--backup-every', '0'], /--backup-every must be a positive duration/],
        [[url, '--backup-dir', backups, '--backup-every', '1x'], /--backup-every must be a positive duration.*1x/],
        [[url, ...sim.flags, '--http', `127.0.0.1:${busyPort}`], new RegExp(`Port ${busyPort} on 127\\.0\\.0\\.1 is already in use`)],
        [[url, '--bot', join(dir, 'missing.mjs')], /missing\.mjs does not exist/],
        [[url, '--bot', join(dir, 'no-default.mjs')], /no-default\.mjs has no default-exported function/],
        [[url, '--trust-root-key', sim.rootPublicKey], /--trust-root-key only makes sense with --server/],
        [[`sqlite:${emptyDb}`, '--all'], /has no sessions/]
      ]
      const runs = cases.map(([argv]) => spawnRun(argv))
      for (const [i, run] of runs.entries()) {
        const { code } = await run.exited()
        const [argv, message] = cases[i] ?? assert.fail(`no case ${i}`)
        assert.equal(code, 2, `${argv.join(' ')} exits 2`)
        assert.match(run.stdout() + run.stderr(), message, `${argv.join(' ')} says why`)
      }
    } finally {
      await new Promise(resolve => busy.close(resolve))
    }
    assert.ok(!existsSync(db), 'no store was created')
    assert.ok(!existsSync(backups), 'no backup folder was created')
    assert.equal(md5(emptyDb), emptyBefore, 'the empty store is unchanged')
  })
})
