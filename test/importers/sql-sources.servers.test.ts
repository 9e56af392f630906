/**
 * The SQL importers (issue 25): mysql-baileys, Baileys develop's SQLite and baileys-store
 * (PostgreSQL and MySQL), each read in place and never written. Per source: a device linked by
 * the real makeWASocket (against the simulator) on the source's own auth state, migrated, logs in
 * from the target without a QR and messages decrypt both ways; the fixture's alice (every key
 * type, a group, sender keys with `::` in their ids) migrates and her conversations continue;
 * a damaged row stops migrate naming the row, with nothing written to the target; the source's
 * rows are byte-equal before and after.
 */
import { rawDriver } from '../helpers/raw-driver.js'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import Database from 'better-sqlite3'
import { openStore } from '../../src/open-store.js'
import type { AuthStore } from '../../src/auth/auth-store.js'
import { migrate } from '../../src/tools/migrate.js'
import { isVaultError } from '../../src/core/errors.js'
import { copyFixture, fixtureFacts } from '../helpers/fixture.js'
import { assertConversationContinues } from '../helpers/conversation.js'
import { login, pair } from '../helpers/sim-lifecycle.js'
import { waitForText } from '../helpers/sim-peers.js'
import { useSimulator } from '../helpers/use-simulator.js'
import { freshMysql, freshPostgres } from '../helpers/servers.js'
import { runCli } from '../helpers/tools-cli.js'
import {
  MYSQL_SESSION_DDL,
  PG_SESSION_DDL,
  baileysSqliteAuth,
  baileysStoreAuth,
  closeMysqlBaileys,
  mysqlBaileysAuth,
  mysqlSessionTable,
  pgSessionTable,
  writeFolderDevice,
  type SourceAuth
} from '../helpers/import-sources.js'

/** Keys of `session` on `to` whose value differs from the source's (compared as text; no value is printed). */
async function changedKeys(from: AuthStore, session: string, to: AuthStore, target: string): Promise<number> {
  let changed = 0
  for await (const [type, id, bytes] of to.listRaw(target)) {
    const source = (await from.readRaw(session, type, [id])).get(id)
    if (!source || !from.valueBody(source, { session, type, id }).equals(to.valueBody(bytes!, { session: target, type, id }))) changed++
  }
  return changed
}

/** One account in a source store: how to write it, its importer URL and session, raw access to its rows. */
interface SourceAccount {
  auth: SourceAuth
  url: string
  session: string
  /** Every row of the source store, as text (the before/after comparison). */
  rows(): Promise<string>
  /** Sets the stored text of one key's row by hand (to damage it, or put it back). */
  setRow(type: string, id: string, text: string): Promise<void>
  /** Closes the writer (the importer then reads what it left). */
  done(): Promise<void>
}

interface SourceKind {
  name: string
  account(name: string): Promise<SourceAccount>
}

let dir: string
const cleanups: Array<() => Promise<void>> = []

async function mysqlDatabase(label: string) {
  const db = await freshMysql(label)
  cleanups.push(db.cleanup)
  const mysql = await import('mysql2/promise')
  const conn = await mysql.createConnection({ host: db.host, port: db.port, user: db.user, database: db.database })
  cleanups.unshift(() => conn.end())
  return { ...db, conn, url: (scheme: string) => `${scheme}://${db.user}@${db.host}:${db.port}/${db.database}` }
}

async function postgresDatabase(label: string) {
  const db = await freshPostgres(label)
  const { default: pg } = await import('pg')
  const client = new pg.Client({ connectionString: db.url })
  await client.connect()
  cleanups.push(async () => {
    await client.end()
    await db.cleanup()
  })
  return { client, url: (scheme: string) => db.url.replace(/^postgres(ql)?:/, `${scheme}:`) }
}

const sources: SourceKind[] = [
  {
    name: 'mysql-baileys (the npm package, MariaDB)',
    async account(name) {
      // mysql-baileys keeps its first connection for every later call: one database for all accounts.
      mysqlBaileysDb ??= mysqlDatabase('mysql_baileys')
      const db = await mysqlBaileysDb
      const auth = await mysqlBaileysAuth(db, name)
      return {
        auth,
        url: db.url('mysql-baileys'),
        session: name,
        rows: async () => JSON.stringify((await db.conn.query('SELECT session, id, value FROM auth ORDER BY session, id'))[0]),
        setRow: async (type, id, text) => void (await db.conn.query('UPDATE auth SET value = ? WHERE session = ? AND id = ?', [text, name, `${type}-${id}`])),
        done: async () => undefined
      }
    }
  },
  {
    name: "Baileys develop's useSqliteAuthState (SQLite)",
    async account(name) {
      const path = join(dir, `baileys-${name}.db`)
      const auth = baileysSqliteAuth(path)
      const raw = () => new Database(path)
      const withDb = <T>(fn: (db: Database.Database) => T): T => {
        const db = raw()
        try {
          return fn(db)
        } finally {
          db.close()
        }
      }
      return {
        auth,
        url: `baileys-sqlite:${path}`,
        session: 'default',
        rows: async () =>
          withDb(db => JSON.stringify([db.prepare('SELECT * FROM creds ORDER BY key').all(), db.prepare('SELECT * FROM signal_keys ORDER BY type, id').all()])),
        setRow: async (type, id, text) => void withDb(db => db.prepare('UPDATE signal_keys SET value = ? WHERE type = ? AND id = ?').run(text, type, id)),
        done: async () => auth.close()
      }
    }
  },
  {
    name: 'baileys-store (Prisma Session on PostgreSQL)',
    async account(name) {
      pgStoreDb ??= postgresDatabase('baileys_store').then(async db => (await db.client.query(PG_SESSION_DDL), db))
      const db = await pgStoreDb
      return {
        auth: await baileysStoreAuth(pgSessionTable(db.client), name),
        url: db.url('baileys-store+postgres'),
        session: name,
        rows: async () => JSON.stringify((await db.client.query('SELECT * FROM "Session" ORDER BY "sessionId", "id"')).rows),
        setRow: async (type, id, text) =>
          void (await db.client.query('UPDATE "Session" SET "data" = $1 WHERE "sessionId" = $2 AND "id" = $3', [text, name, mangle(`${type}-${id}`)])),
        done: async () => undefined
      }
    }
  },
  {
    name: 'baileys-store (Prisma Session on MariaDB)',
    async account(name) {
      mysqlStoreDb ??= mysqlDatabase('baileys_store').then(async db => (await db.conn.query(MYSQL_SESSION_DDL), db))
      const db = await mysqlStoreDb
      return {
        auth: await baileysStoreAuth(mysqlSessionTable(db.conn), name),
        url: db.url('baileys-store+mysql'),
        session: name,
        rows: async () => JSON.stringify((await db.conn.query('SELECT * FROM `Session` ORDER BY `sessionId`, `id`'))[0]),
        setRow: async (type, id, text) =>
          void (await db.conn.query('UPDATE `Session` SET `data` = ? WHERE `sessionId` = ? AND `id` = ?', [text, name, mangle(`${type}-${id}`)])),
        done: async () => undefined
      }
    }
  }
]

let mysqlBaileysDb: ReturnType<typeof mysqlDatabase> | undefined
let mysqlStoreDb: ReturnType<typeof mysqlDatabase> | undefined
let pgStoreDb: ReturnType<typeof postgresDatabase> | undefined
/** baileys-store's row names (Baileys' file-name mangling), written here independently of the importer's. */
const mangle = (name: string) => name.replace(/\//g, '__').replace(/:/g, '-')

const sim = useSimulator()

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'vault-importers-sql-'))
})

after(async () => {
  await closeMysqlBaileys()
  for (const cleanup of cleanups) await cleanup()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

for (const source of sources) {
  describe(`import from ${source.name}`, () => {
    it('a device linked by makeWASocket on it migrates; it logs in from the target without a QR, messages decrypt both ways, the source is unchanged', async () => {
      const carol = sim.contact(`1555000${sources.indexOf(source)}444`, { name: 'Carol' })
      const account = await source.account('linked')
      const device = await pair(sim, account.auth)
      {
        const client = await login(sim, account.auth)
        await carol.sendText('before the move', { to: device.jid })
        await waitForText(client, 'before the move')
        await client.sock.sendMessage(carol.jid, { text: 'reply before the move' })
        assert.equal((await carol.nextMessage()).text, 'reply before the move')
        await client.end()
      }
      await account.done()
      const rowsBefore = await account.rows()

      const from = await openStore(account.url)
      const to = await openStore(`sqlite:${join(dir, `target-linked-${sources.indexOf(source)}.db`)}`)
      try {
        const result = await migrate(from, to, { sessions: [account.session], rename: { [account.session]: 'alice' } })
        assert.equal(result.ok, true)
        assert.ok(result.keys > 0 && (result.sessions[0]?.verified ?? 0) >= result.keys, 'every key read back equal')

        const auth = await to.useAuthState('alice')
        assert.equal(auth.isNew, false)
        assert.equal(auth.state.creds.me?.id, device.jid)
        const client = await login(sim, auth)
        await carol.sendText('after the move', { to: device.jid })
        await waitForText(client, 'after the move')
        await client.sock.sendMessage(carol.jid, { text: 'reply after the move' })
        assert.equal((await carol.nextMessage()).text, 'reply after the move')
        await client.end()
        assert.deepEqual(client.saveErrors, [])
        assert.equal(carol.retryReceipts, 0)
        assert.deepEqual(carol.decryptErrors, [])

        // The source kept its rows byte for byte, while the target's state moved on with the conversation.
        assert.equal(await account.rows(), rowsBefore, 'the source is unchanged')
        assert.ok((await changedKeys(from, account.session, to, 'alice')) > 0, 'control: the conversation changed keys on the target')
      } finally {
        await from.close()
        await to.close()
      }
    })

    it("the fixture's alice (every key type, a group) migrates and her conversations with bob and carol continue", async () => {
      const account = await source.account('fixture')
      const written = await writeFolderDevice(account.auth, copyFixture('alice'))
      await account.done()
      const from = await openStore(account.url)
      const to = await openStore('memory:')
      try {
        const result = await migrate(from, to, { sessions: [account.session], rename: { [account.session]: 'alice' } })
        assert.equal(result.ok, true)
        assert.equal(result.keys, written)
        assert.deepEqual(result.sessions[0]?.counts, fixtureFacts('alice').byType)
        await assertConversationContinues(to, 'alice')
      } finally {
        await from.close()
        await to.close()
      }
    })

    it('a damaged row stops migrate naming the row, with nothing written to the target; put back, it migrates (control)', async () => {
      const account = await source.account('damaged')
      await writeFolderDevice(account.auth, copyFixture('alice'))
      await account.done()
      const original = await account.rows()
      const preKey = String(fixtureFacts('alice').nextPreKeyId - 1)
      const targetPath = join(dir, `target-damaged-${sources.indexOf(source)}.db`)
      const from = await openStore(account.url)
      const to = await openStore(`sqlite:${targetPath}`)
      try {
        const good = Buffer.from((await from.readRaw(account.session, 'pre-key', [preKey])).get(preKey)!).toString('utf8')
        // Cut short, as a torn write leaves it: the start of the value, without its end.
        await account.setRow('pre-key', preKey, good.slice(0, 40))
        // One key per write: without the check before copying, the keys listed before the damaged
        // one would already be in the target (in its staging session) when the copy stops.
        await assert.rejects(migrate(from, to, { sessions: [account.session], batchSize: 1 }), err => {
          assert.ok(isVaultError(err, 'CORRUPT_DATA'), String(err))
          assert.match(err.message, new RegExp(`session "${account.session}" pre-key "${preKey}"`))
          assert.match(err.message, /migrate wrote nothing to the target/)
          assert.ok(!err.message.includes(good.slice(12, 40)), 'no part of the value is in the message')
          return true
        })
        const raw = new Database(targetPath, { readonly: true })
        try {
          assert.equal(raw.prepare('SELECT count(*) FROM vault_keys').pluck().get(), 0, 'no key reached the target')
          assert.equal(raw.prepare('SELECT count(*) FROM vault_creds').pluck().get(), 0, 'no creds reached the target')
        } finally {
          raw.close()
        }
        // Control: with the row as it was, the same migration goes through.
        await account.setRow('pre-key', preKey, good)
        assert.equal(await account.rows(), original)
        assert.equal((await migrate(from, to, { sessions: [account.session] })).ok, true)
      } finally {
        await from.close()
        await to.close()
      }
    })
  })
}

describe('the importers through the CLI', () => {
  it('ls, inspect, doctor, backup and migrate read a Baileys SQLite file; drop, prune, restore, rotate-key and run refuse it; the file is unchanged', async () => {
    const path = join(dir, 'cli-baileys.db')
    const auth = baileysSqliteAuth(path)
    const written = await writeFolderDevice(auth, copyFixture('alice'))
    auth.close()
    const url = `baileys-sqlite:${path}`
    const bytes = readFileSync(path)

    const ls = await runCli(['ls', url, '--json'])
    assert.equal(ls.code, 0, ls.stderr)
    assert.deepEqual(
      ls.json().sessions.map((s: { session: string }) => s.session),
      ['default']
    )
    const inspect = await runCli(['inspect', url, '--json'])
    assert.equal(inspect.code, 0, inspect.stderr)
    assert.equal(inspect.json().summary.keys, written)
    const doctor = await runCli(['doctor', url, '--json'])
    assert.equal(doctor.code, 0, doctor.stderr)
    assert.equal(doctor.json().sessions[0]?.status, 'healthy')
    const target = `sqlite:${join(dir, 'cli-target.db')}`
    const migrated = await runCli(['migrate', url, target, '--as', 'alice', '--json'])
    assert.equal(migrated.code, 0, migrated.stderr)
    assert.equal(migrated.json().keys, written)

    const backup = join(dir, 'cli.vault-backup')
    const backedUp = await runCli(['backup', url, backup])
    assert.equal(backedUp.code, 0, backedUp.stderr)
    for (const argv of [
      ['drop', url, '--session', 'default', '--yes'],
      ['prune', url],
      ['restore', backup, url],
      ['rotate-key', url],
      ['run', url, '--session', 'default'],
      ['migrate', target, url]
    ]) {
      const run = await runCli(argv, { env: { BAILEYS_VAULT_KEY: Buffer.alloc(32, 7).toString('base64') } })
      assert.equal(run.code, 2, `${argv[0]} refuses: ${run.stderr}`)
      assert.match(run.stderr, /another project's store: baileys-vault only reads it/, argv[0])
    }
    assert.ok(readFileSync(path).equals(bytes), 'the Baileys SQLite file is byte-equal')
  })

  it('unknown layouts and unreachable servers are clear errors naming the file, table or row, never a password', async () => {
    const missing = await runCli(['ls', `baileys-sqlite:${join(dir, 'nope.db')}`])
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /nope\.db does not exist/)

    const ours = join(dir, 'ours.db')
    const store = await openStore(`sqlite:${ours}`)
    await store.close()
    const wrongKind = await runCli(['ls', `baileys-sqlite:${ours}`])
    assert.equal(wrongKind.code, 2)
    assert.match(wrongKind.stderr, /is a baileys-vault store, not Baileys' useSqliteAuthState database: open it as sqlite:/)

    const db = await mysqlDatabase('layouts')
    const unreachable = await runCli(['ls', `mysql-baileys://root:hunter2@127.0.0.1:1/${db.database}`])
    assert.equal(unreachable.code, 2)
    assert.ok(!unreachable.stderr.includes('hunter2'), unreachable.stderr)
    assert.match(unreachable.stderr, /root:\*\*\*@127\.0\.0\.1:1/)

    const noTable = await runCli(['ls', `${db.url('mysql-baileys')}?table=nope`])
    assert.equal(noTable.code, 2)
    assert.match(noTable.stderr, /has no table `nope`, so it is not a mysql-baileys table/)

    await db.conn.query('CREATE TABLE auth (session varchar(50) NOT NULL, id varchar(80) NOT NULL, value LONGTEXT DEFAULT NULL)')
    await db.conn.query("INSERT INTO auth VALUES ('bot', 'creds', '{}'), ('bot', 'pre-key-1', '{}'), ('bot', 'notes-about-bot', '{}')")
    const unknownRow = await runCli(['migrate', db.url('mysql-baileys'), `sqlite:${join(dir, 'unknown-row.db')}`])
    assert.equal(unknownRow.code, 2)
    assert.match(unknownRow.stderr, /row "notes-about-bot" of session "bot" is not a Baileys key of this layout/)
    const target = await openStore(`sqlite:${join(dir, 'unknown-row.db')}`)
    try {
      const sessions: string[] = []
      for await (const session of rawDriver(target).sessions()) sessions.push(session)
      assert.deepEqual(sessions, [], 'nothing was written to the target (not even a staging session)')
    } finally {
      await target.close()
    }
  })
})
