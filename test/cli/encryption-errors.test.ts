/**
 * Encryption mistakes as an operator meets them, through the CLI where they were seen (issue 20,
 * item 8): `run` and `doctor` on a store linked under `BAILEYS_VAULT_KEY=<base64>` (values
 * sealed under the derived id), restarted with no key, with a wrong key, and with the same key
 * given under an explicit id (`main:<same base64>`), which must simply work.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { deriveKeyId } from '../../src/codec/seal.js'
import { converse, ECHO_BOT, entered, linkByQr, spawnCli, startSimChild, type CliChild, type SimChild } from '../helpers/run-child.js'
import { runCli } from '../helpers/tools-cli.js'

/** Waits generous enough for a loaded 2-core machine (the simulator and `run` children share it); never a sleep. */
const LOADED_MS = 45_000

const CONTACT = '15550006161'
const KEY = randomBytes(32).toString('base64')
const OTHER = randomBytes(32).toString('base64')

describe('encryption errors through run and doctor say what to do', () => {
  let sim: SimChild
  let dir: string
  let url: string
  let bot: string
  const children: CliChild[] = []
  const run = (env: NodeJS.ProcessEnv) => {
    // BAILEYS_VAULT_KEY must be absent, not inherited from the test's environment.
    const child = spawnCli(['run', url, ...sim.flags, '--bot', bot, '--json'], { env: { BAILEYS_VAULT_KEY: '', BAILEYS_VAULT_OLD_KEYS: '', ...env } })
    children.push(child)
    return child
  }
  const failedWith = async (env: NodeJS.ProcessEnv) => {
    const child = run(env)
    const failed = await child.waitFor(entered('failed'), { what: 'the session failing', timeoutMs: LOADED_MS })
    assert.equal((await child.exited(LOADED_MS)).code, 1)
    assert.equal(
      child.events.some(e => e.event === 'qr'),
      false,
      'no QR: nothing is linked over the sealed creds'
    )
    return String(failed.reason?.message)
  }

  before(async () => {
    sim = await startSimChild()
    dir = mkdtempSync(join(tmpdir(), 'vault-enc-cli-'))
    url = `sqlite:${join(dir, 'wa.db')}`
    bot = join(dir, 'bot.mjs')
    writeFileSync(bot, ECHO_BOT)
    // Linked with a key given without an id: every value is sealed under the derived id.
    const first = run({ BAILEYS_VAULT_KEY: KEY })
    await linkByQr(first, sim, { timeoutMs: LOADED_MS })
    assert.equal(await converse(sim, CONTACT, 'one'), 'echo: one')
    first.kill('SIGTERM')
    assert.equal((await first.exited()).code, 0)
  })
  after(async () => {
    for (const child of children) child.kill()
    await sim?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('no key configured: run says to set BAILEYS_VAULT_KEY, not to restore a backup', { timeout: 90_000 }, async () => {
    const message = await failedWith({})
    assert.match(message, /no encryption key is configured/)
    assert.match(message, /Set BAILEYS_VAULT_KEY/)
    assert.match(message, new RegExp(`sealed with key "${deriveKeyId(KEY)}"`))
    assert.doesNotMatch(message, /restore the creds from a backup/i)
    // Human mode (no --json) prints the state and its reason too, not only a QR drawing (issue 20, item 10).
    const human = spawnCli(['run', url, ...sim.flags], { env: { BAILEYS_VAULT_KEY: '', BAILEYS_VAULT_OLD_KEYS: '' } })
    children.push(human)
    assert.equal((await human.exited(LOADED_MS)).code, 1)
    assert.match(human.stdout(), /^main {6}failed {7}\(Session "main" is not connecting.*Set BAILEYS_VAULT_KEY/m)
    const doctor = await runCli(['doctor', url, '--json'])
    const findings = doctor.json().sessions[0].findings
    assert.deepEqual(
      findings.map((f: any) => f.code),
      ['CREDS_ENCRYPTED', 'VALUE_ENCRYPTED']
    )
    assert.match(findings[1].message, /no encryption key is configured/)
  })

  it('a wrong key: run and doctor say the key does not match and how to recognise the right one', { timeout: 90_000 }, async () => {
    const message = await failedWith({ BAILEYS_VAULT_KEY: OTHER })
    assert.match(message, new RegExp(`sealed with key "${deriveKeyId(KEY)}", which is not configured`))
    assert.match(message, /fingerprint of the key it needs/)
    assert.match(message, /sha256sum/)
    assert.doesNotMatch(message, /restore the creds from a backup/i)
    // The fingerprint recipe in the message, followed for the right key, gives the id it names.
    const { execFileSync } = await import('node:child_process')
    const printed = execFileSync('bash', ['-c', 'echo -n "$KEY" | base64 -d | sha256sum | cut -c1-8'], { env: { KEY } }).toString().trim()
    assert.equal(`k${printed}`, deriveKeyId(KEY))

    const doctor = await runCli(['doctor', url, '--json'], { env: { BAILEYS_VAULT_KEY: OTHER } })
    const codes = doctor.json().sessions[0].findings.map((f: any) => f.code)
    assert.deepEqual(codes, ['CREDS_ENCRYPTED', 'VALUE_ENCRYPTED'], 'values no key opens are not also "sealed with an older key"')
    assert.match(doctor.json().sessions[0].findings[1].message, /do not open with any configured key/)
  })

  it('the same key under an explicit id (main:<same base64>) opens everything: run continues without a QR, doctor is clean', { timeout: 90_000 }, async () => {
    const env = { BAILEYS_VAULT_KEY: `main:${KEY}` }
    const child = run(env)
    await child.waitFor(entered('connected'), { what: 'connected from the stored creds', timeoutMs: LOADED_MS })
    assert.equal(
      child.events.some(e => e.event === 'qr'),
      false,
      'no QR'
    )
    assert.equal(await converse(sim, CONTACT, 'two'), 'echo: two')
    child.kill('SIGTERM')
    assert.equal((await child.exited()).code, 0)

    // Values are now under both ids (old under the derived one, new writes under "main"): the same bytes.
    const doctor = await runCli(['doctor', url, '--json'], { env })
    assert.equal(doctor.code, 0, doctor.stdout)
    assert.deepEqual(doctor.json().sessions[0].findings, [], 'no "not configured", no "older key"')
    // And the other way round: values sealed under "main", the key given without an id.
    const plainId = await runCli(['doctor', url, '--json'], { env: { BAILEYS_VAULT_KEY: KEY } })
    assert.equal(plainId.code, 0, plainId.stdout)
    assert.deepEqual(plainId.json().sessions[0].findings, [])
    const rotate = await runCli(['rotate-key', url], { env })
    assert.equal(rotate.code, 0, rotate.stderr)
    assert.match(rotate.stdout, /every value is sealed with "main"; older keys can be removed/)
  })
})
