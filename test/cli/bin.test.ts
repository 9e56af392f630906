import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, describe, it } from 'node:test'
import { openStore } from '../../src/open-store.js'
import { importBaileysFolder, copyFixture } from '../helpers/fixture.js'

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'bin.js')
const dir = mkdtempSync(join(tmpdir(), 'vault-tools-bin-'))
after(() => rmSync(dir, { recursive: true, force: true }))

/** Runs a command line through /bin/sh, as a user would type it ($BV is the binary). */
function sh(command: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise(resolve => {
    const line = command.replaceAll('$BV', 'node "$BAILEYS_VAULT_BIN"')
    execFile('/bin/sh', ['-c', line], { cwd: dir, env: { ...process.env, BAILEYS_VAULT_BIN: BIN } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 2) : 0, stdout, stderr })
    })
  })
}

describe('the baileys-vault binary', () => {
  it('starts with a shebang and runs ls, doctor, backup and restore from a shell with the right exit codes', async () => {
    assert.match(readFileSync(BIN, 'utf8'), /^#!\/usr\/bin\/env node\n/)
    const store = await openStore(`sqlite:${join(dir, 'alice.db')}`)
    await importBaileysFolder(store, copyFixture('alice'), 'alice')
    await store.close()

    const help = await sh('$BV --help')
    assert.equal(help.code, 0)
    assert.match(help.stdout, /Usage: baileys-vault <command>/)

    const ls = await sh('$BV ls sqlite:alice.db --json')
    assert.equal(ls.code, 0, ls.stderr)
    assert.equal(JSON.parse(ls.stdout).sessions[0].phone, '15550000001')
    assert.equal(ls.stderr, '', 'no progress bar when stderr is not a terminal')

    const doctor = await sh('$BV doctor sqlite:alice.db')
    assert.equal(doctor.code, 0, doctor.stdout + doctor.stderr)
    assert.match(doctor.stdout, /alice {2}healthy/)

    const backup = await sh('$BV backup sqlite:alice.db alice.vault.gz >/dev/null && $BV restore alice.vault.gz sqlite:restored.db --json')
    assert.equal(backup.code, 0, backup.stderr)
    assert.equal(JSON.parse(backup.stdout).ok, true)

    const usage = await sh('$BV migrate sqlite:alice.db')
    assert.equal(usage.code, 2)
    assert.match(usage.stderr, /missing <to-url>/)

    const io = await sh('$BV ls sqlite:missing.db')
    assert.equal(io.code, 2)
    assert.match(io.stderr, /does not exist/)
  })

  it('exits 1 when doctor finds problems', async () => {
    const url = `sqlite:${join(dir, 'bad.db')}`
    const store = await openStore(url)
    await importBaileysFolder(store, copyFixture('alice'), 'alice')
    const creds = (await store.readCreds('alice'))!
    creds.signedPreKey.signature = Buffer.from(creds.signedPreKey.signature).fill(7, 0, 1)
    await store.write('alice', { creds })
    await store.close()
    const run = await sh('$BV doctor sqlite:bad.db')
    assert.equal(run.code, 1, run.stdout + run.stderr)
    assert.match(run.stdout, /SIGNED_PRE_KEY_SIGNATURE_INVALID/)
  })
})
