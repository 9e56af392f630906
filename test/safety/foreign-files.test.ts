import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { after, describe, it } from 'node:test'
import { initAuthCreds } from '@whiskeysockets/baileys'
import { openStore } from '../../src/open-store.js'
import { encodeJournal } from '../../src/drivers/file-io.js'
import { ls } from '../../src/tools/inspect.js'
import { doctor } from '../../src/tools/doctor.js'
import { runCli } from '../helpers/tools-cli.js'

/**
 * Tools on a file: folder that also holds the user's own files (issue 10, items 1 and 3): those
 * files are never deleted or rewritten, and read-only tools change nothing at all.
 */

const temps: string[] = []
const tempDir = (label: string) => {
  const dir = mkdtempSync(join(tmpdir(), `vault-filesafe-${label}-`))
  temps.push(dir)
  return dir
}
after(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true })
})

/** Files a project folder holds; three are named like keys of types Baileys does not have. */
const FOREIGN: Record<string, string> = {
  'package-lock.json': '{}\n',
  'app-settings.json': '{"x":1}\n',
  'x-y.json': '{"type":"Buffer","data":"AQ=="}',
  'notes.txt': 'hi'
}
const FOREIGN_NAMES = Object.keys(FOREIGN).sort()

const md5 = (path: string) => createHash('md5').update(readFileSync(path)).digest('hex')
/** Every file and folder under `dir` with the md5 of each file. */
const snapshot = (dir: string, base = dir): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap(e => {
    const path = join(dir, e.name)
    return e.isDirectory() ? [`${relative(base, path)}/`, ...snapshot(path, base)] : [`${relative(base, path)} ${md5(path)}`]
  })
const foreignSums = (dir: string) => FOREIGN_NAMES.map(n => `${n} ${md5(join(dir, n))}`)

function projectFolder(label: string): string {
  const dir = join(tempDir(label), 'proj')
  mkdirSync(dir)
  for (const [name, body] of Object.entries(FOREIGN)) writeFileSync(join(dir, name), body)
  return dir
}

/** A SQLite store with one linked-looking session `default`: creds and a few keys. */
async function sourceStore(): Promise<string> {
  const url = `sqlite:${join(tempDir('src'), 'bot.db')}`
  const store = await openStore(url)
  await store.write('default', {
    creds: initAuthCreds(),
    set: [
      ['pre-key', '1', { public: Buffer.from([1]), private: Buffer.from([2]) }],
      ['pre-key', '2', { public: Buffer.from([3]), private: Buffer.from([4]) }],
      ['session', '15550000002.0', Buffer.from([5])],
      ['app-state-sync-version', 'regular', { version: 1, hash: Buffer.alloc(128), indexValueMap: {} }]
    ]
  })
  await store.close()
  return url
}

describe("file: folders with the user's own files", () => {
  it('migrate --overwrite (into a new and into an existing session) leaves package-lock.json, app-settings.json and x-y.json byte-identical', async () => {
    const from = await sourceStore()
    const proj = projectFolder('migrate')
    const before = foreignSums(proj)
    const first = await runCli(['migrate', from, `file:${proj}`, '--overwrite'])
    assert.equal(first.code, 0, first.stderr + first.stdout)
    assert.deepEqual(foreignSums(proj), before)
    const again = await runCli(['migrate', from, `file:${proj}`, '--overwrite'])
    assert.equal(again.code, 0, again.stderr + again.stdout)
    assert.match(again.stdout, /overwritten 4 keys/)
    assert.deepEqual(foreignSums(proj), before)
    const store = await openStore(`file:${proj}`)
    assert.equal((await store.readCreds('default'))?.registrationId !== undefined, true)
    await store.close()
  })

  it('migrate --dry-run --overwrite lists every key it would delete and the files it keeps', async () => {
    const from = await sourceStore()
    const proj = projectFolder('dry')
    assert.equal((await runCli(['migrate', from, `file:${proj}`])).code, 0)
    const before = snapshot(proj)
    const text = await runCli(['migrate', from, `file:${proj}`, '--dry-run', '--overwrite'])
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout, /would delete from file:.* session "default": creds \+ 4 keys/)
    for (const line of ['pre-key 1', 'pre-key 2', 'session 15550000002.0', 'app-state-sync-version regular'])
      assert.ok(text.stdout.includes(`    ${line}\n`), line)
    assert.match(text.stdout, /kept, not baileys-vault's \(never touched\): app-settings\.json, notes\.txt, package-lock\.json, x-y\.json/)
    const json = (await runCli(['migrate', from, `file:${proj}`, '--dry-run', '--overwrite', '--json'])).json()
    assert.deepEqual(json.sessions[0]?.wouldDelete, {
      creds: true,
      keys: [
        ['app-state-sync-version', 'regular'],
        ['pre-key', '1'],
        ['pre-key', '2'],
        ['session', '15550000002.0']
      ]
    })
    assert.deepEqual(json.sessions[0]?.targetIgnored, FOREIGN_NAMES)
    assert.deepEqual(snapshot(proj), before, 'a dry run writes nothing')
  })

  it('restore --overwrite and rotate-key leave them byte-identical', async () => {
    const from = await sourceStore()
    const bak = join(tempDir('bak'), 'bot.bak')
    assert.equal((await runCli(['backup', from, bak])).code, 0)
    const proj = projectFolder('restore')
    const before = foreignSums(proj)
    for (let run = 0; run < 2; run++) {
      const r = await runCli(['restore', bak, `file:${proj}`, '--overwrite'])
      assert.equal(r.code, 0, r.stderr + r.stdout)
      assert.deepEqual(foreignSums(proj), before)
    }
    const env = { BAILEYS_VAULT_KEY: `k1:${randomBytes(32).toString('base64')}` }
    const rotated = await runCli(['rotate-key', `file:${proj}`, '--json'], { env })
    assert.equal(rotated.code, 0, rotated.stderr)
    assert.equal(rotated.json().resealed, 5, 'creds + 4 keys, nothing else')
    assert.deepEqual(foreignSums(proj), before)
  })

  it('inspect and doctor list them as ignored', async () => {
    const from = await sourceStore()
    const proj = projectFolder('inspect')
    assert.equal((await runCli(['migrate', from, `file:${proj}`])).code, 0)
    const inspected = await runCli(['inspect', `file:${proj}`, '--json'])
    assert.equal(inspected.code, 0, inspected.stderr)
    assert.deepEqual(inspected.json().ignored, FOREIGN_NAMES)
    assert.equal(inspected.json().summary.keys, 4)
    const inspectText = await runCli(['inspect', `file:${proj}`])
    assert.match(inspectText.stdout, /ignored \(not baileys-vault's, never touched\): app-settings\.json, notes\.txt, package-lock\.json, x-y\.json/)
    const doc = await runCli(['doctor', `file:${proj}`, '--json'])
    const report = doc.json().sessions[0]
    assert.deepEqual(report.ignored, FOREIGN_NAMES)
    assert.equal(report.findings.find((f: any) => f.code === 'IGNORED_FILES')?.severity, 'info')
    const docText = await runCli(['doctor', `file:${proj}`])
    assert.match(
      docText.stdout,
      /info +IGNORED_FILES: ignored \(not baileys-vault's, never touched\): app-settings\.json, notes\.txt, package-lock\.json, x-y\.json/
    )
  })

  it('ls and doctor on a read-only file: store leave stray temp files and journals untouched, and doctor reports the unfinished batch', async () => {
    const from = await sourceStore()
    const proj = projectFolder('readonly')
    assert.equal((await runCli(['migrate', from, `file:${proj}`])).code, 0)
    // A writer killed after its batch's commit point: journal + its temp file; and a stray temp.
    const tmp = '.vault-tmp-999999999-1-0000abcd'
    writeFileSync(join(proj, tmp), '{"keyId":3}')
    writeFileSync(join(proj, '.vault-journal'), encodeJournal([{ target: 'pre-key-3.json', tmp }, { target: 'pre-key-1.json' }]))
    writeFileSync(join(proj, '.vault-tmp-999999999-2-0000abcd'), 'stray')
    const before = snapshot(proj)
    const store = await openStore(`file:${proj}`, { readOnly: true })
    const listed = await ls(store)
    assert.deepEqual(
      listed.sessions.map(s => s.session),
      ['default']
    )
    const checked = await doctor(store)
    const unfinished = checked.sessions[0]?.findings.find(f => f.code === 'UNFINISHED_BATCH')
    assert.ok(
      unfinished && /unfinished batch journal/.test(unfinished.message) && /read-write/.test(unfinished.fix!),
      JSON.stringify(checked.sessions[0]?.findings)
    )
    await assert.rejects(store.drop('default'), (e: any) => e.code === 'INVALID_ARGUMENT' && /read-only/.test(e.message))
    await store.close()
    assert.deepEqual(snapshot(proj), before, 'byte-identical: journal, temp files and all')
  })
})
