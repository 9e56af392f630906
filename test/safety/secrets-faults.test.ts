/**
 * The secrets scan over the fault paths (issue 20, item 5): `run --log-level trace` against the
 * simulator (Baileys' own trace logging included), stores damaged under a key (a torn pre-key row,
 * a torn pre-key file, torn creds) through run, doctor, inspect and migrate, and a libsignal
 * session reset under startSession. Every byte of output is scanned for runs of the account's
 * private keys (see helpers/secret-scan.ts).
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Writable } from 'node:stream'
import { inspect } from 'node:util'
import Database from 'better-sqlite3'
import pino from 'pino'
import { openStore } from '../../src/open-store.js'
import { startSession } from '../../src/runtime/index.js'
import { trustSimulator } from '../../src/sim/index.js'
import { converse, ECHO_BOT, entered, linkByQr, spawnCli, startSimChild, type CliChild, type SimChild } from '../helpers/run-child.js'
import { runCli } from '../helpers/tools-cli.js'
import { echoTexts } from '../helpers/sim-client.js'
import { eventually } from '../helpers/sim-lifecycle.js'
import { assertNoKeyMaterial, privateMaterial } from '../helpers/secret-scan.js'
import { recordConsole, recordStdio } from '../helpers/captured-output.js'

/** Waits generous enough for a loaded 2-core machine (the simulator and `run` children share it); never a sleep. */
const LOADED_MS = 45_000

/** The account's key material as stored now (creds and every key). */
async function materialOf(url: string, session: string): Promise<Buffer[]> {
  const store = await openStore(url, { readOnly: true })
  try {
    const creds = await store.readCreds(session)
    const keys: Array<[string, string, any]> = []
    for await (const [type, id, value] of store.listKeys(session, undefined, { values: true })) keys.push([type, id, value])
    return privateMaterial(creds, keys)
  } finally {
    await store.close()
  }
}

/** Replaces the quote that opens the first `"data":"…"` after `"private"` with `#`: JSON.parse then quotes the key's first characters. */
const tearBeforePrivate = (text: string): string => {
  const at = text.indexOf('"data":"', text.indexOf('"private"')) + '"data":'.length
  assert.ok(at > '"data":'.length, 'the value holds a private key')
  return `${text.slice(0, at)}#${text.slice(at + 1)}`
}

const filesUnder = (dir: string): string[] =>
  readdirSync(dir).flatMap(name => (statSync(join(dir, name)).isDirectory() ? filesUnder(join(dir, name)) : [join(dir, name)]))

/** The run's output without the one documented exception: the `qr` event (what the phone scans). */
const runOutput = (run: CliChild) => [
  ...run
    .stdout()
    .split('\n')
    .filter(line => !line.startsWith('{"event":"qr"')),
  run.stderr()
]

describe('secrets stay out of trace logs, damaged-store errors and session resets', () => {
  let sim: SimChild
  let dir: string
  let bot: string
  const children: CliChild[] = []
  const run = (url: string, extra: string[] = []) => {
    const child = spawnCli(['run', url, ...sim.flags, '--bot', bot, '--json', '--log-level', 'trace', ...extra], {
      env: { BAILEYS_VAULT_KEY: '' }
    })
    children.push(child)
    return child
  }
  /** A new contact's first message makes the bot read one of its pre-keys. */
  const firstMessageFrom = async (child: CliChild, contact: string) => {
    const sent = await sim.call('POST', `/contacts/${contact}/send`, { text: 'hello there' })
    assert.equal(sent.status, 200)
    await eventually(() => /CORRUPT_DATA|not valid JSON/.test(child.stderr()), 'the damaged pre-key reported in the log', LOADED_MS)
  }
  const stop = async (child: CliChild) => {
    child.kill('SIGTERM')
    await child.exited()
  }

  before(async () => {
    sim = await startSimChild()
    dir = mkdtempSync(join(tmpdir(), 'vault-secrets-faults-'))
    bot = join(dir, 'bot.mjs')
    writeFileSync(bot, ECHO_BOT)
  })
  after(async () => {
    for (const child of children) child.kill()
    await sim?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  // First: nothing in this process has silenced libsignal yet (the control below depends on it).
  it('a forced session reset under startSession: libsignal tries to print the session, nothing of it reaches the output', { timeout: 90_000 }, async () => {
    const store = await openStore(`sqlite:${join(dir, 'lib.db')}`)
    const untrust = trustSimulator(Buffer.from(sim.rootPublicKey, 'hex'))
    let logged = ''
    const sink = new Writable({ write: (chunk, _enc, done) => void ((logged += String(chunk)), done()) })
    const logger = pino({ level: 'trace' }, sink)
    const printed: string[] = []
    const restore: Array<() => void> = []
    // What reaches the console (the user's terminal): recorded beneath the silencer startSession
    // installs, since the test runner's console does not write through process.stdout.write.
    const reached: unknown[][] = []
    restore.push(recordConsole(reached))
    const session = await startSession({
      store,
      sessionId: 'lib',
      logger,
      socket: { waWebSocketUrl: sim.url, logger: logger.child({ from: 'baileys' }) as never, markOnlineOnConnect: false }
    })
    // Installed after startSession (which silences libsignal): this spy sees what libsignal asks to print.
    const asked: unknown[][] = []
    restore.push(recordConsole(asked), recordStdio(printed))
    try {
      session.on('qr', qr => void sim.call('POST', '/scan', qr))
      session.on('socket', sock => echoTexts(sock, () => {}))
      await eventually(() => session.state === 'connected', 'connected after the scan', LOADED_MS)
      const contact = '15550008101'
      assert.equal(await converse(sim, contact, 'hi'), 'echo: hi')
      assert.equal(await converse(sim, contact, 'again'), 'echo: again')
      // The contact asks again for the bot's last message with a fresh key bundle: the bot builds a
      // new session over the open one, and libsignal "closes" the old one, printing it whole.
      const sent = await sim.call('POST', `/contacts/${contact}/send`, { text: 'last' })
      assert.equal(sent.status, 200)
      const reply = await sim.call('GET', `/contacts/${contact}/next?timeoutMs=10000`)
      assert.equal(reply.body.text, 'echo: last')
      assert.equal((await sim.call('POST', `/contacts/${contact}/retry`, { id: reply.body.id })).status, 200)
      await eventually(
        () => asked.some(args => String(args[0]).startsWith('Closing session')),
        `libsignal closing a session (asked: ${asked.map(a => String(a[0]).slice(0, 30)).join(' | ')})`,
        15_000
      )
      await session.stop()
    } finally {
      restore.reverse().forEach(r => r())
      untrust()
      await store.close()
    }
    // The control: what libsignal asked to print holds ratchet private keys (as a session dump does).
    const dumped = asked.filter(args => String(args[0]).startsWith('Closing session'))
    const dumpText = dumped.map(args => args.map(a => inspect(a, { depth: 6 })).join(' ')).join('\n')
    assert.match(dumpText, /privKey/, 'the dump libsignal asked to print carries private keys')
    const haystack = [...printed, logged, ...reached.map(args => args.map(a => inspect(a, { depth: 6 })).join(' '))].join('\n')
    assert.doesNotMatch(haystack, /Closing session|SessionEntry|privKey/)
    const ratchetKeys: Buffer[] = []
    // The private parts only (public keys such as baseKey may be logged legitimately).
    const collect = (value: unknown, depth = 0): void => {
      if (depth > 8 || value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return
      for (const [name, v] of Object.entries(value)) {
        if (Buffer.isBuffer(v) && ['privKey', 'rootKey', 'key'].includes(name) && v.length >= 16) ratchetKeys.push(v)
        else collect(v, depth + 1)
      }
    }
    dumped.forEach(args => args.forEach(a => collect(a)))
    assert.ok(ratchetKeys.length > 0)
    const material = [...ratchetKeys, ...(await materialOfClosed(join(dir, 'lib.db')))]
    assertNoKeyMaterial(haystack, material, 'session reset output')
    // inspect's byte form too: `<Buffer 0a 1b …>` as console.info would print it.
    for (const key of ratchetKeys) assert.ok(!haystack.includes(inspect(key).slice(8, 40)), 'a ratchet key in Buffer form')
  })

  it('run --log-level trace, then torn pre-keys and creds through run, doctor, inspect and migrate', { timeout: 180_000 }, async () => {
    const url = `sqlite:${join(dir, 'wa.db')}`
    const outputs: string[] = []
    const linking = run(url)
    await linkByQr(linking, sim, { timeoutMs: LOADED_MS })
    assert.equal(await converse(sim, '15550008001', 'first'), 'echo: first')
    await stop(linking)
    outputs.push(...runOutput(linking))
    // Trace reached Baileys' logger too: the scan covers its most talkative level.
    assert.match(linking.stderr(), /"level":10,.*"from":"baileys"/, "Baileys' own trace lines were printed")
    const material = await materialOf(url, 'main')
    assert.ok(material.length > 20, 'creds and pre-keys')

    // A copy in a file: folder, then both stores torn just before private keys.
    const folder = join(dir, 'folder')
    assert.equal((await runCli(['migrate', url, `file:${folder}`])).code, 0)
    const db = new Database(join(dir, 'wa.db'))
    const rows = db.prepare(`SELECT id, value FROM vault_keys WHERE session = 'main' AND type = 'pre-key'`).all() as Array<{ id: string; value: Buffer }>
    const update = db.prepare(`UPDATE vault_keys SET value = ? WHERE session = 'main' AND type = 'pre-key' AND id = ?`)
    for (const row of rows)
      update.run(Buffer.concat([row.value.subarray(0, 1), Buffer.from(tearBeforePrivate(row.value.subarray(1).toString('utf8')))]), row.id)
    db.close()
    const preKeyFiles = filesUnder(folder).filter(f => /pre-key-\d+\.json$/.test(f))
    assert.ok(preKeyFiles.length > 10 && rows.length > 10, 'pre-keys to tear')
    for (const file of preKeyFiles) writeFileSync(file, tearBeforePrivate(readFileSync(file, 'utf8')))

    // run reads a torn pre-key row when a new contact writes first (the file: folder reads through the same codec).
    const damaged = run(url)
    await damaged.waitFor(entered('connected'), { what: 'connected on the damaged store', timeoutMs: LOADED_MS })
    await firstMessageFrom(damaged, '15550008002')
    await stop(damaged)
    outputs.push(...runOutput(damaged))
    for (const [store, contact] of [
      [url, '15550008002'],
      [`file:${folder}`, '15550008003']
    ] as const) {
      for (const argv of [
        ['doctor', store],
        ['doctor', store, '--json'],
        ['inspect', store, '--session', 'main'],
        ['inspect', store, '--session', 'main', '--json'],
        ['migrate', store, `sqlite:${join(dir, `copy-${contact}.db`)}`]
      ]) {
        const out = await runCli(argv)
        outputs.push(out.stdout, out.stderr)
      }
    }
    // Torn creds: run refuses at once, doctor reports it.
    const credsFile = filesUnder(folder).find(f => f.endsWith('creds.json'))!
    writeFileSync(credsFile, tearBeforePrivate(readFileSync(credsFile, 'utf8')))
    const refused = run(`file:${folder}`)
    await refused.waitFor(entered('failed'), { what: 'run refusing torn creds', timeoutMs: LOADED_MS })
    await refused.exited()
    outputs.push(...runOutput(refused), ...Object.values(await runCli(['doctor', `file:${folder}`])).filter(v => typeof v === 'string'))

    const haystack = outputs.join('\n')
    assert.match(haystack, /not valid JSON/, 'the damaged values were read and reported')
    assert.match(haystack, /CORRUPT_DATA/)
    assertNoKeyMaterial(haystack, material, 'trace logs and damaged-store output')
    // The control: the scan notices the excerpt JSON.parse itself would quote for one of these tears.
    const torn = readFileSync(preKeyFiles[0] ?? assert.fail('a pre-key file'), 'utf8')
    const excerpt = (() => {
      try {
        JSON.parse(torn)
      } catch (err) {
        return String((err as Error).message)
      }
      assert.fail('the torn file parsed')
    })()
    assert.throws(() => assertNoKeyMaterial(excerpt, material, 'control'), /characters of a private key/)
  })
})

async function materialOfClosed(path: string): Promise<Buffer[]> {
  return materialOf(`sqlite:${path}`, 'lib')
}
