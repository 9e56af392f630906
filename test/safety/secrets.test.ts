import assert from 'node:assert/strict'
import { describe, it, before, after } from 'node:test'
import Database from 'better-sqlite3'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { inspect } from 'node:util'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openStore } from '../../src/open-store.js'
import { createMemoryDriver } from '../../src/drivers/memory.js'
import { copyFixture, importBaileysFolder, readBaileysFolder } from '../helpers/fixture.js'
import { instrument } from '../helpers/faulty-driver.js'
import { runCli } from '../helpers/tools-cli.js'
import { converse, ECHO_BOT, linkByQr, spawnCli, startSimChild } from '../helpers/run-child.js'
import { API_TOKEN, apiClient, readEvents, webhookReceiver } from '../helpers/control-api.js'
import { privateMaterial, secretStrings } from '../helpers/secret-scan.js'
import { recordStdio } from '../helpers/captured-output.js'

/**
 * No secret ever reaches a log line, an error message or tool output. Collects everything
 * the tools print and every error message (with causes and stacks) the failure paths produce
 * on the fixture's alice, plus all that this process writes to stdout/stderr, and scans it for
 * alice's private keys in base64 and hex.
 */
describe('secrets stay out of output and errors', () => {
  const seen: string[] = []
  const printed: string[] = []
  const restore: Array<() => void> = []
  let secrets: string[] = []

  before(async () => {
    const { creds, keys } = await readBaileysFolder(copyFixture('alice'))
    secrets = secretStrings(privateMaterial(creds, keys as Array<[string, string, any]>))
    restore.push(recordStdio(printed))
  })
  after(() => restore.forEach(r => r()))

  const collect = (err: unknown) => {
    for (let e: any = err; e; e = e.cause) seen.push(String(e.message), String(e.stack))
  }

  it('tools output, failure messages and process output contain no private key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vault-secrets-'))
    const path = join(dir, 'store.db')
    const url = `sqlite:${path}`
    const store = await openStore(url)
    await importBaileysFolder(store, copyFixture('alice'), 'alice')
    await store.close()

    for (const argv of [
      ['ls', url],
      ['inspect', url, '--session', 'alice'],
      ['doctor', url],
      ['prune', url, '--session', 'alice', '--dry-run']
    ]) {
      for (const json of [[], ['--json']]) {
        const run = await runCli([...argv, ...json])
        seen.push(run.stdout, run.stderr)
        assert.ok(run.stdout.length > 0, `${argv[0]} printed something`)
      }
    }
    const bak = join(dir, 'b.bak')
    seen.push(...Object.values(await runCli(['backup', url, bak])).filter(v => typeof v === 'string'))
    const encUrl = `sqlite:${join(dir, 'enc.db')}`
    const key = randomBytes(32).toString('base64')
    for (const argv of [
      ['migrate', url, encUrl],
      ['doctor', encUrl],
      ['inspect', encUrl, '--session', 'alice']
    ]) {
      const run = await runCli(argv, { env: { BAILEYS_VAULT_KEY: key } })
      seen.push(run.stdout, run.stderr)
    }

    // Failure paths: damaged values and creds, wrong key, backend outage, bad arguments.
    const db = new Database(path)
    db.prepare(`UPDATE vault_keys SET value = substr(value, 1, 40) WHERE session = 'alice'`).run()
    db.prepare(`UPDATE vault_creds SET value = substr(value, 1, 60) WHERE session = 'alice'`).run()
    db.close()
    const damaged = await openStore(url)
    await damaged.useAuthState('alice').catch(collect)
    await (async () => {
      for await (const entry of damaged.listKeys('alice', undefined, { values: true })) void entry
    })().catch(collect)
    seen.push(...Object.values(await runCli(['doctor', url])).filter(v => typeof v === 'string'))
    await damaged.close()
    const wrongKey = await openStore(encUrl, { encryption: { keys: { x: randomBytes(32) }, current: 'x' } })
    await wrongKey.useAuthState('alice').catch(collect)
    await wrongKey.close()
    const { driver, failNextWrites } = instrument(createMemoryDriver())
    const flaky = await openStore(driver)
    const auth = await flaky.useAuthState('alice')
    failNextWrites(2)
    await auth.saveCreds().catch(collect)
    await auth.state.keys.set({ 'pre-key': { 1: auth.state.creds.signedIdentityKey } }).catch(collect)
    await openStore('postgres://bot:s3cret-pass@127.0.0.1:1/x', { postgres: { connectionTimeoutMillis: 500 } } as any)
      .then(s => s.useAuthState('a'))
      .catch(collect)

    assert.ok(seen.filter(Boolean).length > 20, 'collected the output of every path')
    const haystack = [...seen, ...printed].join('\n')
    assert.ok(haystack.includes('CORRUPT') || haystack.includes('damaged') || haystack.includes('not valid JSON'), 'failure paths were exercised')
    for (const secret of secrets) assert.ok(!haystack.includes(secret), 'a private key appeared in output or an error message')
    assert.ok(!haystack.includes('s3cret-pass'), 'a store password appeared in output or an error message')
  })

  it('a torn pre-key file: errors and their causes, printed as loggers print them, and the CLI hold no fragment of the key', async () => {
    const folder = copyFixture('alice')
    const name = readdirSync(folder).find(f => /^pre-key-\d+\.json$/.test(f))!
    const text = readFileSync(join(folder, name), 'utf8')
    const privateKey = (JSON.parse(text) as { private: { data: string } }).private.data
    // Damaged just before the private key (the issue's `"data":#4MpRVqLdm"`): JSON.parse's message
    // then quotes the text around the bad character, the start of the key.
    const at = text.indexOf(privateKey)
    writeFileSync(join(folder, name), `${text.slice(0, at - 1)}#${text.slice(at)}`)
    const outputs: string[] = []
    const store = await openStore(`file:${folder}`)
    try {
      const { state } = await store.useAuthState('default')
      const err = await state.keys.get('pre-key', [name.slice('pre-key-'.length, -'.json'.length)]).then(
        () => assert.fail('a torn pre-key must not read as a value'),
        e => e
      )
      assert.equal(err.code, 'CORRUPT_DATA')
      // What pino, console.log and util.inspect print: message, stack and the whole cause chain.
      outputs.push(inspect(err, { depth: 10 }), JSON.stringify({ err, cause: String(err.cause), stack: err.cause?.stack }))
    } finally {
      await store.close()
    }
    for (const argv of [
      ['doctor', `file:${folder}`],
      ['inspect', `file:${folder}`, '--session', 'default'],
      ['doctor', `file:${folder}`, '--json']
    ]) {
      const run = await runCli(argv)
      outputs.push(run.stdout, run.stderr)
    }
    const haystack = outputs.join('\n')
    assert.match(haystack, /not valid JSON/)
    // Any 8 characters of the key in a row (the issue saw 10: `#4MpRVqLdm`).
    for (let i = 0; i + 8 <= privateKey.length; i++)
      assert.ok(!haystack.includes(privateKey.slice(i, i + 8)), `a fragment of the pre-key's private key appeared: ${privateKey.slice(i, i + 8)}`)
  })

  it(
    'run --json output, its stderr, its HTTP endpoints, the control API and webhooks carry no key material and no message text',
    { timeout: 60_000 },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'vault-secrets-run-'))
      const url = `sqlite:${join(dir, 'wa.db')}`
      const bot = join(dir, 'bot.mjs')
      writeFileSync(bot, ECHO_BOT)
      const text = `confidential-${randomBytes(6).toString('hex')}`
      const sim = await startSimChild()
      const hook = await webhookReceiver('hook-secret')
      const run = spawnCli([
        'run',
        url,
        ...sim.flags,
        '--bot',
        bot,
        '--http',
        '127.0.0.1:0',
        '--json',
        '--api-token',
        API_TOKEN,
        '--webhook',
        hook.url,
        '--webhook-secret',
        'hook-secret',
        '--backup-dir',
        join(dir, 'backups')
      ])
      const bodies: string[] = []
      try {
        const { url: health } = await run.waitFor(e => e.event === 'http')
        const sse = await readEvents(health)
        await linkByQr(run, sim)
        assert.equal(await converse(sim, '15550007777', text), `echo: ${text}`)
        for (const path of ['/sessions', '/readyz', '/metrics', '/healthz', '/nowhere']) bodies.push(await (await fetch(health + path)).text())
        assert.ok(bodies[2]?.includes('baileys_vault_messages_total'), 'metrics were served')
        // Every control API route, and what /api/events and the webhook carried (the QR events are the documented exception).
        const api = apiClient(health)
        for (const path of [
          '/api/sessions',
          '/api/sessions/main',
          '/api/sessions/main/doctor',
          '/api/sessions/main/qr',
          '/api/sessions/nobody',
          '/api/nowhere',
          '/'
        ])
          await api.call('GET', path)
        await api.call('POST', '/api/sessions/main/backup')
        await api.call('POST', '/api/sessions/main/pairing-code', { body: { phone: sim.phone } })
        await api.call('POST', '/api/sessions', { body: { id: 'main' } })
        await api.call('GET', '/api/sessions', { token: 'wrong-token-0123456789' })
        assert.ok(api.seen.some(b => b.includes('"findings"')) && api.seen.some(b => b.includes('.vault')), 'the API answered')
        await hook.waitFor(4, 'the webhook bodies')
        bodies.push(...api.seen, ...sse.raw.filter(block => !block.includes('"event":"qr"')), ...hook.bodies.filter(b => !b.startsWith('{"event":"qr"')))
        assert.ok(sse.raw.length > 3 && hook.bodies.length > 3, 'events and webhooks were collected')
        sse.close()
        run.kill('SIGTERM')
        assert.equal((await run.exited()).code, 0)
      } finally {
        run.kill()
        await sim.stop()
        await hook.close()
      }

      const store = await openStore(url)
      const { creds } = (await store.useAuthState('main')).state
      // The retry store's error paths (a zombie recording and serving) name no message text either.
      const stale = await store.acquireLease('main', { owner: 'h:1:stale', ttlMs: 30_000 })
      const zombie = await store.useMessageStore('main', { lease: stale })
      await zombie.recordMessage({ jid: '15550007777@s.whatsapp.net', id: 'Z0', message: { conversation: text } })
      await store.releaseLease(stale)
      await store.acquireLease('main', { owner: 'h:2:new', ttlMs: 30_000 })
      const errors: string[] = []
      for (const attempt of [
        () => zombie.recordMessage({ jid: '15550007777@s.whatsapp.net', id: 'Z1', message: { conversation: text } }),
        () => zombie.getMessage({ remoteJid: '15550007777@s.whatsapp.net', id: 'Z0', fromMe: true })
      ]) {
        await attempt().then(
          () => assert.fail('a zombie recorded or served'),
          (err: Error) => errors.push(err.message, String(err.stack))
        )
      }
      await store.close()
      // inspect and doctor show the retry store's count and ages only.
      const tools: string[] = []
      for (const argv of [
        ['inspect', url, '--session', 'main', '--json'],
        ['inspect', url, '--session', 'main'],
        ['doctor', url, '--json']
      ]) {
        const out = await runCli(argv)
        tools.push(out.stdout, out.stderr)
      }
      assert.ok(tools[0]?.includes('"retryStore"'), 'inspect reports the retry store')
      assert.ok(bodies[2]?.includes('baileys_vault_retry_store_messages'), 'the retry store metrics were served')
      const runSecrets = secretStrings(privateMaterial(creds))
      // The documented exception: the "qr" event carries what the phone must scan (public keys and the
      // adv secret that pairing exchanges), so it is the one line left out of the scan.
      const stdout = run
        .stdout()
        .split('\n')
        .filter(line => !line.startsWith('{"event":"qr"'))
      const qrs = run.events.filter(e => e.event === 'qr')
      assert.equal(qrs.length, 1)
      assert.ok(
        runSecrets.some(secret => qrs[0]?.qr.includes(secret)),
        "the scan looks for this run's keys (the QR shows its adv secret)"
      )
      const haystack = [...stdout, run.stderr(), ...bodies, ...errors, ...tools].join('\n')
      assert.ok(haystack.includes('"state":"connected"'), 'the scan covers the run output')
      for (const secret of runSecrets) assert.ok(!haystack.includes(secret), 'a private key appeared in run output or an endpoint')
      assert.ok(!haystack.includes(text), 'message text appeared in run output, an endpoint, an error or inspect/doctor')
    }
  )
})
