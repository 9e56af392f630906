import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, describe, it } from 'node:test'
import Database from 'better-sqlite3'
import { initAuthCreds } from '@whiskeysockets/baileys'
import { isVaultError } from '../../src/core/errors.js'
import { openStore } from '../../src/open-store.js'
import { runCli } from '../helpers/tools-cli.js'
import { freshPostgres, freshRedis, redisClient } from '../helpers/servers.js'
import { rawDriver } from '../helpers/raw-driver.js'
import { asNobody } from '../helpers/unprivileged.js'

const md5 = (path: string) => createHash('md5').update(readFileSync(path)).digest('hex')
const mode = (path: string) => statSync(path).mode & 0o777
const dir = () => mkdtempSync(join(tmpdir(), 'vault-readonly-'))
const BIN = join(fileURLToPath(import.meta.url), '..', '..', '..', 'src', 'cli', 'bin.js')

/** An SQLite database of another program, with the given tables and one row each. */
function foreignDatabase(path: string, ddl: string): string {
  const db = new Database(path)
  db.exec(ddl)
  db.close()
  return path
}

const tablesOf = (path: string) =>
  new Database(path, { readonly: true }).prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[]

/** A store with one linked-looking session and a key, written by baileys-vault. */
async function vaultDatabase(path: string): Promise<void> {
  const store = await openStore(`sqlite:${path}`)
  await store.write('bot', { creds: initAuthCreds(), set: [['pre-key', '1', { public: Buffer.alloc(32, 1), private: Buffer.alloc(32, 2) }]] })
  await store.close()
}

describe('read-only commands write nothing', () => {
  const cases = [
    {
      name: 'an unrelated SQLite database',
      ddl: "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users (name) VALUES ('ann')",
      code: 'NOT_FOUND',
      message: /is not a baileys-vault store \(no vault_meta table\)/
    },
    {
      name: "a database with another program's vault_meta",
      ddl: "CREATE TABLE vault_meta (k TEXT, v TEXT); INSERT INTO vault_meta VALUES ('a', 'b')",
      code: 'UNSUPPORTED_FORMAT',
      message: /has a table vault_meta that is not baileys-vault's \(no column key, value\)/
    }
  ]
  for (const c of cases) {
    it(`ls, inspect, doctor, backup and migrate (source) refuse ${c.name} and leave it byte-identical`, async () => {
      const d = dir()
      const path = foreignDatabase(join(d, 'other.db'), c.ddl)
      const before = md5(path)
      const tables = tablesOf(path)
      for (const argv of [['ls'], ['inspect'], ['doctor'], ['backup', '@', join(d, 'out.bak')], ['migrate', '@', `memory:ro-${process.pid}`]]) {
        const args = argv.map(a => (a === '@' ? `sqlite:${path}` : a))
        if (args.length === 1) args.push(`sqlite:${path}`)
        const run = await runCli([...args, '--json'])
        assert.equal(run.code, 2, `${argv[0]}: ${run.stdout}`)
        assert.equal(run.json().error.code, c.code, argv[0])
        assert.match(run.json().error.message, c.message, argv[0])
        assert.ok(run.json().error.message.includes(path), 'the message names the file')
        assert.equal(md5(path), before, `${argv[0]} changed the database`)
        assert.deepEqual(tablesOf(path), tables)
        assert.ok(!existsSync(`${path}-wal`) && !existsSync(`${path}-shm`) && !existsSync(join(d, 'out.bak')))
      }
    })
  }

  it('a read-write open of a database with a foreign vault_meta is UNSUPPORTED_FORMAT, not "no such column: value"', async () => {
    const path = foreignDatabase(join(dir(), 'app.db'), 'CREATE TABLE vault_meta (k TEXT, v TEXT)')
    const before = md5(path)
    await assert.rejects(
      openStore(`sqlite:${path}`),
      (e: unknown) => isVaultError(e, 'UNSUPPORTED_FORMAT') && e.message.includes(path) && !e.message.includes('no such column')
    )
    assert.equal(md5(path), before)
  })

  it('a read-only open of a missing file is NOT_FOUND and creates nothing', async () => {
    const path = join(dir(), 'missing', 'bot.db')
    await assert.rejects(openStore(`sqlite:${path}`, { readOnly: true }), (e: unknown) => isVaultError(e, 'NOT_FOUND'))
    assert.ok(!existsSync(join(path, '..')))
  })

  it('a store opened read-only reads, and refuses writes and drops with INVALID_ARGUMENT', async () => {
    const path = join(dir(), 'bot.db')
    await vaultDatabase(path)
    for (const url of [`sqlite:${path}`, `memory:ro-${process.pid}`]) {
      const store = await openStore(url, { readOnly: true })
      try {
        if (url.startsWith('sqlite')) assert.equal((await store.readKeys('bot', 'pre-key', ['1'])).size, 1)
        const refused = (e: unknown) => isVaultError(e, 'INVALID_ARGUMENT') && /opened read-only/.test(e.message)
        await assert.rejects(store.write('bot', { set: [['pre-key', '2', { a: 1 }]] }), refused)
        await assert.rejects(store.drop('bot'), refused)
        await assert.rejects(rawDriver(store).write('bot', { set: [['pre-key', '2', Buffer.from('x')]], del: [] }), refused)
        const { state } = await store.useAuthState('bot')
        await assert.rejects(state.keys.set({ 'pre-key': { '3': { public: Buffer.alloc(1), private: Buffer.alloc(1) } } }), refused)
      } finally {
        await store.close()
      }
    }
    const check = await openStore(`sqlite:${path}`, { readOnly: true })
    assert.deepEqual((await check.readKeys('bot', 'pre-key', ['1', '2', '3'])).size, 1)
    await check.close()
  })
})

describe('SQLite files are private', () => {
  it('creates the database, its -wal and -shm 0600 and a new folder 0700, whatever the umask', async () => {
    const parent = join(dir(), 'new', 'folder')
    const path = join(parent, 'bot.db')
    const old = process.umask(0)
    try {
      const store = await openStore(`sqlite:${path}`)
      await store.write('bot', { creds: initAuthCreds() })
      for (const file of [path, `${path}-wal`, `${path}-shm`]) assert.equal(mode(file).toString(8), '600', file)
      assert.equal(mode(parent).toString(8), '700')
      assert.equal(mode(join(parent, '..')).toString(8), '700')
      await store.close()
    } finally {
      process.umask(old)
    }
  })

  it('doctor warns about a store file others can read and gives the chmod', async () => {
    const path = join(dir(), 'bot.db')
    await vaultDatabase(path)
    assert.equal((await runCli(['doctor', `sqlite:${path}`, '--json'])).json().findings.length, 0)
    chmodSync(path, 0o644)
    const run = await runCli(['doctor', `sqlite:${path}`, '--json'])
    assert.equal(run.code, 1)
    const [finding] = run.json().findings
    assert.equal(finding.code, 'FILE_READABLE_BY_OTHERS')
    assert.equal(finding.severity, 'warning')
    assert.match(finding.message, /readable by group or others \(mode 644/)
    // SQLite gives the -wal and -shm the database's mode, so they may be listed too.
    assert.ok(finding.fix.startsWith(`chmod 600 '${path}'`), finding.fix)
  })
})

/** Runs the CLI as `nobody` (helpers/unprivileged.ts): every file it opens or creates obeys the file modes. */
function runAsNobody(args: string[]) {
  const line = asNobody(process.execPath, [BIN, ...args, '--json'])
  const r = spawnSync(line.command, line.args, { encoding: 'utf8' })
  assert.equal(r.error, undefined, 'setpriv is needed (util-linux)')
  return { code: r.status, json: () => JSON.parse(r.stdout), stdout: r.stdout, stderr: r.stderr }
}

describe('a store this user may read but not write', { skip: process.getuid?.() !== 0 ? 'needs root to switch to nobody' : false }, () => {
  it('read-only commands work; writes name the path and the permission, never UNEXPECTED; the file is untouched', async () => {
    const d = dir()
    chmodSync(d, 0o755) // nobody may enter, not write
    const path = join(d, 'bot.db')
    await vaultDatabase(path)
    chmodSync(path, 0o644)
    const before = md5(path)

    const ls = runAsNobody(['ls', `sqlite:${path}`])
    assert.equal(ls.code, 0, ls.stderr)
    assert.deepEqual(
      ls.json().sessions.map((s: any) => [s.session, s.keys]),
      [['bot', 1]]
    )
    for (const command of ['inspect', 'doctor']) assert.notEqual(runAsNobody([command, `sqlite:${path}`]).code, 2, command)

    for (const args of [
      ['prune', `sqlite:${path}`],
      ['migrate', `memory:`, `sqlite:${path}`]
    ]) {
      const run = runAsNobody(args)
      assert.equal(run.code, 2, `${args[0]}: ${run.stdout} ${run.stderr}`)
      const { code, message } = run.json().error
      assert.equal(code, 'BACKEND_UNAVAILABLE', `${args[0]}: ${message}`)
      assert.match(message, /Permission denied/)
      assert.ok(message.includes(path), message)
      assert.doesNotMatch(message, /--overwrite|retry when the backend is reachable/)
    }
    assert.equal(md5(path), before)
  })

  it('migrate into a read-only target says permission denied, not "has some keys and no creds"', async () => {
    const d = dir()
    chmodSync(d, 0o755)
    const source = join(d, 'source.db')
    await vaultDatabase(source)
    chmodSync(source, 0o644)
    const target = join(d, 'target.db')
    await new Database(target).close()
    chmodSync(target, 0o644)
    const before = md5(target)
    const run = runAsNobody(['migrate', `sqlite:${source}`, `sqlite:${target}`])
    assert.equal(run.code, 2)
    const { code, message } = run.json().error
    assert.equal(code, 'BACKEND_UNAVAILABLE')
    assert.match(message, /Permission denied: the SQLite database .*target\.db cannot be written by this user/)
    assert.doesNotMatch(message, /some keys and no creds|--overwrite|reachable/)
    assert.equal(md5(target), before)
  })
})

describe('read-only opens of server stores create nothing', () => {
  const cleanups: Array<() => Promise<void>> = []
  after(async () => {
    for (const c of cleanups) await c()
  })

  it('postgres: ls against an empty database creates no table and is NOT_FOUND', async () => {
    const pg = await freshPostgres('readonly')
    cleanups.push(pg.cleanup)
    const run = await runCli(['ls', pg.url, '--json'])
    assert.equal(run.code, 2)
    assert.equal(run.json().error.code, 'NOT_FOUND')
    assert.match(run.json().error.message, /not a baileys-vault store/)
    const { default: pgLib } = await import('pg')
    const client = new pgLib.Client({ connectionString: pg.url })
    await client.connect()
    try {
      const { rows } = await client.query("SELECT table_name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')")
      assert.deepEqual(rows, [])
    } finally {
      await client.end()
    }
    // A foreign table of the same name: UNSUPPORTED_FORMAT in read-write mode too.
    const client2 = new pgLib.Client({ connectionString: pg.url })
    await client2.connect()
    await client2.query('CREATE TABLE vault_meta (k text, v text)')
    await client2.end()
    await assert.rejects(openStore(pg.url), (e: unknown) => isVaultError(e, 'UNSUPPORTED_FORMAT'))
  })

  it('redis: ls on an unused prefix sends no write and is NOT_FOUND', async () => {
    const redis = await freshRedis('readonly')
    cleanups.push(redis.cleanup)
    const run = await runCli(['ls', redis.url, '--json'])
    assert.equal(run.code, 2)
    assert.equal(run.json().error.code, 'NOT_FOUND')
    const client = await redisClient()
    try {
      assert.deepEqual(await client.keys(`${redis.prefix}:*`), [])
    } finally {
      client.disconnect()
    }
    // After a real open, read-only opens work and refuse writes.
    await (await openStore(redis.url)).close()
    const store = await openStore(redis.url, { readOnly: true })
    try {
      await assert.rejects(store.write('s', { creds: initAuthCreds() }), (e: unknown) => isVaultError(e, 'INVALID_ARGUMENT'))
    } finally {
      await store.close()
    }
  })
})
