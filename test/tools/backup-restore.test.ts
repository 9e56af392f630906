import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import { createHash } from 'node:crypto'
import { after, describe, it } from 'node:test'
import { openStore } from '../../src/open-store.js'
import { fromBufferJson } from '../../src/codec/buffer-json.js'
import { aliceSource, assertConversationContinues } from '../helpers/tools-suite.js'
import { fixtureFacts } from '../helpers/fixture.js'
import { runCli } from '../helpers/tools-cli.js'

const dir = mkdtempSync(join(tmpdir(), 'vault-tools-backup-'))
after(() => rmSync(dir, { recursive: true, force: true }))
let n = 0
const file = (label: string) => join(dir, `${label}-${++n}.vault.gz`)
const memoryUrl = () => `memory:tools-backup-${process.pid}-${++n}`
const sqliteUrl = () => `sqlite:${join(dir, `s${++n}.db`)}`

/** A sqlite store holding the fixture's alice (and its URL), via the CLI. */
async function aliceInSqlite(): Promise<string> {
  const source = await aliceSource()
  const url = sqliteUrl()
  const run = await runCli(['migrate', source.url, url])
  assert.equal(run.code, 0, run.stderr)
  return url
}

const lines = (path: string) => gunzipSync(readFileSync(path)).toString('utf8').split('\n')

/** alice's fixture folder in numbers (the generator's output, not constants). */
const ALICE = fixtureFacts('alice')

describe('baileys-vault backup / restore (CLI)', () => {
  it('backup writes the documented format: header, creds first, keys, trailer with counts and SHA-256', async () => {
    const url = await aliceInSqlite()
    const out = file('format')
    const run = await runCli(['backup', url, out, '--json'])
    assert.equal(run.code, 0, run.stderr)
    const result = run.json()
    assert.equal(result.snapshot, true, 'sqlite backups run inside a snapshot')
    assert.equal(result.keys, ALICE.keys)
    assert.equal(statSync(out).mode & 0o777, 0o600, 'the file holds secrets: owner-only')

    const text = lines(out)
    assert.equal(text.at(-1), '', 'every line ends with a newline')
    const header = JSON.parse(text[0] ?? '')
    assert.equal(header.format, 'baileys-vault-backup')
    assert.equal(header.version, 1)
    assert.deepEqual(header.sessions, ['alice'])
    assert.equal(header.source, 'sqlite')
    const creds = fromBufferJson(text[1] ?? '')
    assert.equal(creds.kind, 'creds')
    assert.ok(Buffer.isBuffer(creds.value.noiseKey.private), 'BufferJSON values')
    const keys = text.slice(2, -2).map(l => JSON.parse(l))
    assert.equal(keys.length, ALICE.keys)
    assert.ok(keys.every(k => k.kind === 'key' && k.session === 'alice' && typeof k.type === 'string' && typeof k.id === 'string'))
    const trailer = JSON.parse(text.at(-2)!)
    assert.deepEqual(trailer.sessions, { alice: { creds: 1, keys: ALICE.keys } })
    assert.equal(trailer.lines, ALICE.keys + 1)
    const hashed = text
      .slice(0, -2)
      .map(l => l + '\n')
      .join('')
    assert.equal(trailer.sha256, createHash('sha256').update(hashed).digest('hex'))
    assert.equal(result.sha256, trailer.sha256)
  })

  it("restore from the CLI: bob's next message decrypts on the restored store", async () => {
    const url = await aliceInSqlite()
    const out = file('roundtrip')
    assert.equal((await runCli(['backup', url, out])).code, 0)
    const to = sqliteUrl()
    const run = await runCli(['restore', out, to])
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stdout, /backup file verified/)
    assert.match(run.stdout, new RegExp(`alice: restored ${ALICE.keys} keys \\+ creds`))
    assert.match(run.stdout, new RegExp(`verified: ${ALICE.keys + 1} values read back and equal`))
    const store = await openStore(to)
    try {
      await assertConversationContinues(store)
    } finally {
      await store.close()
    }
  })

  it('restore --as puts a session under another name; the conversation continues there', async () => {
    const url = await aliceInSqlite()
    const out = file('as')
    assert.equal((await runCli(['backup', url, out])).code, 0)
    const run = await runCli(['restore', out, url, '--as', 'alice-copy'])
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stdout, new RegExp(`alice as alice-copy: restored ${ALICE.keys} keys`))
    const store = await openStore(url)
    try {
      await assertConversationContinues(store, 'alice-copy')
    } finally {
      await store.close()
    }
  })

  it('a memory store (no snapshots) is backed up live, with a note', async () => {
    const source = await aliceSource()
    const run = await runCli(['backup', source.url, file('live')])
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stdout, /read live/)
    assert.match(run.stdout, /note: The memory driver has no consistent snapshots/)
  })

  it('refuses damaged backups with exit 2 and a clear message, writing nothing', async () => {
    const url = await aliceInSqlite()
    const good = file('good')
    assert.equal((await runCli(['backup', url, good])).code, 0)
    const bytes = readFileSync(good)
    const text = gunzipSync(bytes).toString('utf8')
    const cases: Array<[string, Buffer, RegExp]> = [
      ['truncated gzip', bytes.subarray(0, bytes.length - 40), /gzip stream is truncated or damaged|truncated/],
      ['flipped compressed byte', Buffer.from(bytes.map((b, i) => (i === Math.floor(bytes.length / 2) ? b ^ 0xff : b))), /damaged/],
      [
        'changed value, valid gzip',
        gzipSync(text.replace(`"nextPreKeyId":${ALICE.nextPreKeyId}`, `"nextPreKeyId":${ALICE.nextPreKeyId + 1}`)),
        /SHA-256 checksum does not match/
      ],
      ['lines removed, valid gzip', gzipSync(text.split('\n').slice(0, 30).join('\n') + '\n'), /end marker is missing/],
      ['a line cut in half', gzipSync(text.slice(0, text.length / 2)), /incomplete|not valid JSON/],
      ['garbage line', gzipSync(text.replace('\n', '\n{not json\n')), /not valid JSON/],
      ['not gzip at all', Buffer.from('hello'), /damaged/]
    ]
    for (const [label, content, message] of cases) {
      const bad = file(label.replace(/\W+/g, '-'))
      writeFileSync(bad, content)
      const to = memoryUrl()
      const run = await runCli(['restore', bad, to, '--json'])
      assert.equal(run.code, 2, `${label}: exit 2`)
      assert.match(run.stderr, message, label)
      assert.match(run.stderr, /Nothing was restored/, label)
      assert.equal(run.json().error.code, 'CORRUPT_DATA', label)
      const ls = await runCli(['ls', to, '--json'])
      assert.deepEqual(ls.json().sessions, [], `${label}: nothing written`)
    }
    const sqliteTarget = join(dir, 'never-created.db')
    const truncated = file('truncated-again')
    writeFileSync(truncated, bytes.subarray(0, bytes.length - 40))
    const refused = await runCli(['restore', truncated, `sqlite:${sqliteTarget}`])
    assert.equal(refused.code, 2)
    assert.match(refused.stderr, /damaged/)
    assert.equal(existsSync(sqliteTarget), false, 'the target store is not even created')
  })

  it('refuses a newer format version and files that are not backups', async () => {
    const v2 = file('v2')
    writeFileSync(v2, gzipSync(JSON.stringify({ format: 'baileys-vault-backup', version: 2, sessions: [] }) + '\n'))
    const run = await runCli(['restore', v2, memoryUrl()])
    assert.equal(run.code, 2)
    assert.match(run.stderr, /format version 2.*Upgrade baileys-vault/)
    const other = file('other')
    writeFileSync(other, gzipSync('{"hello":1}\n'))
    assert.match((await runCli(['restore', other, memoryUrl()])).stderr, /not a baileys-vault backup/)
    assert.match((await runCli(['restore', join(dir, 'missing.gz'), memoryUrl()])).stderr, /does not exist/)
  })

  it('restore refuses sessions that exist on the target unless --overwrite; --dry-run writes nothing', async () => {
    const url = await aliceInSqlite()
    const out = file('conflict')
    assert.equal((await runCli(['backup', url, out])).code, 0)
    const refused = await runCli(['restore', out, url])
    assert.equal(refused.code, 2)
    assert.match(refused.stderr, /already has data for session\(s\) "alice"\. Nothing was written/)
    const dry = await runCli(['restore', out, url, '--dry-run'])
    assert.equal(dry.code, 1)
    assert.match(dry.stdout, /would refuse/)
    const forced = await runCli(['restore', out, url, '--overwrite', '--json'])
    assert.equal(forced.code, 0, forced.stderr)
    assert.equal(forced.json().sessions[0]?.overwritten, true)
    assert.equal(forced.json().ok, true)
  })

  it('backup refuses to replace an existing file unless --overwrite, and leaves no partial file', async () => {
    const url = await aliceInSqlite()
    const out = file('exists')
    writeFileSync(out, 'precious')
    const run = await runCli(['backup', url, out])
    assert.equal(run.code, 2)
    assert.match(run.stderr, /already exists/)
    assert.equal(readFileSync(out, 'utf8'), 'precious')
    assert.equal((await runCli(['backup', url, out, '--overwrite'])).code, 0)
    assert.equal(JSON.parse(lines(out)[0] ?? '').format, 'baileys-vault-backup')
    assert.deepEqual(
      readdirSync(dir).filter(f => f.includes('.partial-')),
      []
    )
    const noDir = await runCli(['backup', url, join(dir, 'no', 'such', 'dir.gz')])
    assert.equal(noDir.code, 2)
    assert.equal(existsSync(join(dir, 'no')), false)
  })

  it('backs up and restores selected sessions only', async () => {
    const source = await aliceSource()
    await source.store.write('zed', { set: [['device-list', '1555', ['0']]] })
    const out = file('select')
    const b = await runCli(['backup', source.url, out, '--session', 'zed', '--json'])
    assert.equal(b.code, 0, b.stderr)
    assert.deepEqual(JSON.parse(lines(out)[0] ?? '').sessions, ['zed'])
    const all = file('all')
    await runCli(['backup', source.url, all])
    const to = memoryUrl()
    const r = await runCli(['restore', all, to, '--session', 'zed', '--json'])
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(
      r.json().sessions.map((s: any) => s.session),
      ['zed']
    )
    assert.deepEqual(
      (await runCli(['ls', to, '--json'])).json().sessions.map((s: any) => s.session),
      ['zed']
    )
    const missing = await runCli(['restore', all, memoryUrl(), '--session', 'nobody'])
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /has no session "nobody"/)
  })
})
