import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { initAuthCreds } from '@whiskeysockets/baileys'
import { isVaultError } from '../../src/core/errors.js'
import { openStore } from '../../src/open-store.js'
import type { Store } from '../../src/store/store.js'
import { migrate } from '../../src/tools/migrate.js'
import { backup } from '../../src/tools/backup.js'
import { restore } from '../../src/tools/restore.js'
import { freshPostgres, freshRedis } from '../helpers/servers.js'
import { runCli } from '../helpers/tools-cli.js'
import { runUntilOutput } from '../helpers/kill-on-output.js'

const dir = mkdtempSync(join(tmpdir(), 'vault-staging-'))
after(() => rmSync(dir, { recursive: true, force: true }))
let n = 0
const sqliteUrl = () => `sqlite:${join(dir, `t${++n}.db`)}`
const CHILD = new URL('../helpers/staging-child.js', import.meta.url).pathname
const BIN = new URL('../../src/cli/bin.js', import.meta.url).pathname
const KEYS = 3000

const keyPair = (i: number) => ({ public: Buffer.alloc(33, i % 256), private: Buffer.alloc(32, (i + 1) % 256) })

async function list(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = []
  for await (const s of it) out.push(s)
  return out.sort()
}

async function countKeys(store: Store, session: string): Promise<number> {
  let count = 0
  for await (const _ of store.listKeys(session)) count++
  return count
}

/** A source with one linked-looking session of KEYS pre-keys, and a backup of it. */
let source: string
const backupFile = join(dir, 'alice.vault-backup')
before(async () => {
  source = sqliteUrl()
  const store = await openStore(source)
  const preKeys: Array<[string, string, unknown]> = []
  for (let i = 1; i <= KEYS; i++) preKeys.push(['pre-key', String(i), keyPair(i)])
  await store.write('alice', { creds: initAuthCreds(), set: preKeys })
  await backup(store, backupFile)
  await store.close()
})

/** Runs the child migrate, SIGKILLs it once it has committed some batches, waits for its end. */
async function killMidMigrate(to: string, target: string, mode: 'migrate' | 'restore' = 'migrate', overwrite = false): Promise<void> {
  const from = mode === 'restore' ? backupFile : source
  const args = [CHILD, mode, from, to, 'alice', target, ...(overwrite ? ['overwrite'] : [])]
  const child = await runUntilOutput({ args, marker: 'copied', what: 'copying' })
  assert.ok(!child.out.includes('finished'))
  await child.kill()
}

interface Target {
  url: string
  cleanup?: () => Promise<void>
}

/**
 * `leftover`: where the killed copy's keys are: a staging session, or (a store that hides copies
 * in place: SQLite) the target session itself, marked unfinished.
 */
function killSuite(name: string, makeTarget: () => Promise<Target>, leftover: 'staging' | 'hidden' = 'staging', target = 'alice') {
  it(`${name}: a migrate killed with SIGKILL half-way leaves no visible session; a rerun completes it`, async () => {
    const t = await makeTarget()
    try {
      await killMidMigrate(t.url, target)
      const store = await openStore(t.url)
      try {
        assert.deepEqual(await list(store.sessions()), [], 'no visible session after the kill')
        const partial = leftover === 'staging' ? `.staging:${target}` : target
        assert.deepEqual(await list(store.stagingSessions()), leftover === 'staging' ? [partial] : [], 'the partial copy is a staging session')
        assert.deepEqual(await list(store.hiddenCopies()), leftover === 'hidden' ? [partial] : [], 'the partial copy is hidden in place')
        assert.ok((await countKeys(store, partial)) > 0, 'the kill happened mid-way: some keys were copied')
        if (leftover === 'hidden') await assert.rejects(store.useAuthState(target), err => isVaultError(err, 'CORRUPT_DATA'), 'a bot refuses the partial copy')
        const lsRun = await runCli(['ls', t.url])
        assert.match(lsRun.stdout, /interrupted migrate\/restore/)
        const doctorRun = await runCli(['doctor', t.url])
        assert.equal(doctorRun.code, 1)
        assert.ok(doctorRun.stdout.includes(`${partial}: an interrupted migrate/restore`), doctorRun.stdout)

        // A rerun (no --overwrite needed: nothing is visible) replaces the leftover.
        const from = await openStore(source)
        try {
          // The killed run never released its lease: the refusal says its pid is gone; once expired, force takes it.
          await assert.rejects(
            migrate(from, store, { sessions: ['alice'], rename: { alice: target } }),
            err => isVaultError(err, 'LEASE_HELD') && /pid no longer exists/.test((err as Error).message)
          )
          await new Promise(resolve => setTimeout(resolve, 600))
          const r = await migrate(from, store, { sessions: ['alice'], rename: { alice: target }, force: true })
          assert.ok(r.ok)
        } finally {
          await from.close()
        }
        assert.deepEqual(await list(store.sessions()), [target])
        assert.deepEqual(await list(store.stagingSessions()), [])
        assert.deepEqual(await list(store.hiddenCopies()), [])
        assert.equal(await countKeys(store, target), KEYS)
        const auth = await store.useAuthState(target)
        assert.equal(auth.isNew, false)
      } finally {
        await store.close()
      }
    } finally {
      await t.cleanup?.()
    }
  })
}

describe('migrate into a staging session, published by one atomic rename (or hidden in place: sqlite)', () => {
  killSuite('sqlite', async () => ({ url: sqliteUrl() }), 'hidden')
  killSuite('file: (sub-folder session)', async () => ({ url: `file:${join(dir, `f${++n}`)}` }))
  killSuite('postgres', () => freshPostgres('staging'))
  killSuite('redis', () => freshRedis('staging'))

  it('sqlite: a migrate --overwrite killed with SIGKILL half-way leaves the target session exactly as before', async () => {
    const url = sqliteUrl()
    const store = await openStore(url)
    const old: Array<[string, string, unknown]> = [
      ['pre-key', '1', keyPair(200)],
      ['pre-key', '99999', keyPair(201)]
    ]
    await store.write('alice', { creds: { ...initAuthCreds(), registrationId: 777 }, set: old })
    const before = new Map<string, Uint8Array>()
    for await (const [type, id, bytes] of store.listRaw('alice')) before.set(`${type}/${id}`, bytes)
    await store.close()

    await killMidMigrate(url, 'alice', 'migrate', true)
    const after = await openStore(url)
    try {
      assert.deepEqual(await list(after.sessions()), ['alice'])
      assert.deepEqual(await list(after.stagingSessions()), ['.staging:alice'], 'the partial copy is still staged')
      const now = new Map<string, Uint8Array>()
      for await (const [type, id, bytes] of after.listRaw('alice')) now.set(`${type}/${id}`, bytes)
      assert.deepEqual(now, before, "alice's keys, byte for byte")
      assert.equal(((await after.readCreds('alice')) as { registrationId: number }).registrationId, 777)
    } finally {
      await after.close()
    }
  })

  it('restore killed with SIGKILL half-way leaves no visible session either (sqlite); a rerun completes it', async () => {
    const url = sqliteUrl()
    await killMidMigrate(url, 'alice', 'restore')
    const store = await openStore(url)
    try {
      assert.deepEqual(await list(store.sessions()), [])
      assert.deepEqual(await list(store.stagingSessions()), ['.staging:alice'])
      // The killed run's lease: its pid is gone, which the refusal says; once expired, force takes it.
      await assert.rejects(restore(backupFile, store), err => isVaultError(err, 'LEASE_HELD') && /pid no longer exists/.test((err as Error).message))
      await new Promise(resolve => setTimeout(resolve, 600))
      const r = await restore(backupFile, store, { force: true })
      assert.ok(r.ok)
      assert.deepEqual(await list(store.sessions()), ['alice'])
      assert.deepEqual(await list(store.stagingSessions()), [])
      assert.equal(await countKeys(store, 'alice'), KEYS)
    } finally {
      await store.close()
    }
  })

  it('file: root folder (session "default") cannot be renamed: keys without creds, which useAuthState refuses', async () => {
    const url = `file:${join(dir, `f${++n}`)}`
    await killMidMigrate(url, 'default')
    const store = await openStore(url)
    try {
      assert.deepEqual(await list(store.stagingSessions()), [])
      assert.equal(await store.readCreds('default'), undefined)
      await assert.rejects(store.useAuthState('default'), err => isVaultError(err, 'CORRUPT_DATA'))
    } finally {
      await store.close()
    }
  })

  it('the staging prefix is reserved: useAuthState refuses it', async () => {
    const store = await openStore('memory:')
    try {
      await assert.rejects(store.useAuthState('.staging:x'), err => isVaultError(err, 'INVALID_ARGUMENT') && /reserved/.test((err as Error).message))
    } finally {
      await store.close()
    }
  })
})

describe('a copy hidden in place (sqlite: WriteBatch.copy)', () => {
  const pre = (i: number): [string, string, unknown] => ['pre-key', String(i), keyPair(i)]

  it('is not listed and refused by useAuthState until the write that ends it, which lists it whole', async () => {
    const store = await openStore(sqliteUrl())
    try {
      assert.ok(store.canHideCopies)
      await store.write('carol', { set: [pre(1), pre(2)], copy: 'begin' })
      await store.write('carol', { set: [pre(3)] })
      assert.deepEqual(await list(store.sessions()), [])
      assert.deepEqual(await list(store.hiddenCopies()), ['carol'])
      await assert.rejects(store.useAuthState('carol'), err => isVaultError(err, 'CORRUPT_DATA'))
      await store.write('carol', { creds: initAuthCreds(), copy: 'end' })
      assert.deepEqual(await list(store.sessions()), ['carol'])
      assert.deepEqual(await list(store.hiddenCopies()), [])
      assert.equal(await countKeys(store, 'carol'), 3)
      assert.equal((await store.useAuthState('carol')).isNew, false)
    } finally {
      await store.close()
    }
  })

  it('never begins in a session that holds data, and never ends one that was dropped meanwhile: nothing of either write lands', async () => {
    const store = await openStore(sqliteUrl())
    try {
      await store.write('dave', { set: [pre(1)] })
      await assert.rejects(
        store.write('dave', { set: [pre(2)], copy: 'begin' }),
        err => isVaultError(err, 'INVALID_ARGUMENT') && /already has creds or keys/.test((err as Error).message)
      )
      assert.equal(await countKeys(store, 'dave'), 1)
      assert.deepEqual(await list(store.hiddenCopies()), [])
      assert.deepEqual(await list(store.sessions()), ['dave'], 'the refused begin hid nothing')

      await store.write('erin', { set: [pre(1)], copy: 'begin' })
      await store.drop('erin')
      assert.deepEqual(await list(store.hiddenCopies()), [], 'drop removes the mark')
      await assert.rejects(store.write('erin', { creds: initAuthCreds(), set: [pre(2)], copy: 'end' }), err => isVaultError(err, 'NOT_FOUND'))
      assert.equal(await store.hasCreds('erin'), false)
      assert.equal(await countKeys(store, 'erin'), 0)
    } finally {
      await store.close()
    }
  })

  it("a mark beside creds (an older baileys-vault's write) counts for nothing: the session is listed, and migrate treats it as data", async () => {
    const url = sqliteUrl()
    const store = await openStore(url)
    try {
      await store.write('alice', { set: [pre(1)], copy: 'begin' })
      // An older version knows no mark: its copy into the same session writes creds without removing it.
      await store.write('alice', { creds: initAuthCreds() })
      assert.deepEqual(await list(store.sessions()), ['alice'])
      assert.deepEqual(await list(store.hiddenCopies()), [])
      const from = await openStore(source)
      try {
        await assert.rejects(
          migrate(from, store, { sessions: ['alice'] }),
          err => isVaultError(err, 'INVALID_ARGUMENT') && /already has data/.test((err as Error).message)
        )
      } finally {
        await from.close()
      }
      assert.equal(await countKeys(store, 'alice'), 1, 'nothing removed')
    } finally {
      await store.close()
    }
  })

  it('a store that cannot hide a copy refuses such a write (memory:): nothing lands', async () => {
    const memory = await openStore('memory:')
    try {
      assert.equal(memory.canHideCopies, false)
      await assert.rejects(memory.write('x', { set: [pre(1)], copy: 'begin' }), err => isVaultError(err, 'INVALID_ARGUMENT'))
      assert.deepEqual(await list(memory.sessions()), [])
    } finally {
      await memory.close()
    }
  })
})

function renameSuite(name: string, makeTarget: () => Promise<Target>) {
  it(`${name}: rename moves creds and every key in one step, and refuses a target that holds data`, async () => {
    const t = await makeTarget()
    const store = await openStore(t.url)
    try {
      const keys: Array<[string, string, unknown]> = []
      for (let i = 1; i <= 1200; i++) keys.push(['pre-key', String(i), keyPair(i)])
      await store.write('.staging:dave', { creds: initAuthCreds(), set: [...keys, ['session', 'x.0', { s: 1 }]] })
      await store.write('erin', { set: [['pre-key', '1', keyPair(1)]] })
      assert.ok(store.canRename('.staging:dave', 'dave'))
      await assert.rejects(
        store.rename('.staging:dave', 'erin'),
        err => isVaultError(err, 'INVALID_ARGUMENT') && /already has creds or keys/.test((err as Error).message)
      )
      assert.equal(await countKeys(store, '.staging:dave'), 1201, 'a refused rename moved nothing')
      assert.equal(await countKeys(store, 'erin'), 1)

      await store.rename('.staging:dave', 'dave')
      assert.deepEqual(await list(store.sessions()), ['dave', 'erin'])
      assert.deepEqual(await list(store.stagingSessions()), [])
      assert.equal(await countKeys(store, 'dave'), 1201)
      assert.equal(await countKeys(store, '.staging:dave'), 0)
      assert.ok(await store.readCreds('dave'))
      assert.equal(await store.readCreds('.staging:dave'), undefined)
      assert.deepEqual((await store.readKeys('dave', 'session', ['x.0'])).get('x.0'), { s: 1 })
    } finally {
      await store.close()
      await t.cleanup?.()
    }
  })
}

describe('Driver.rename', () => {
  renameSuite('memory', async () => ({ url: `memory:staging-rename-${process.pid}` }))
  renameSuite('sqlite', async () => ({ url: sqliteUrl() }))
  renameSuite('file:', async () => ({ url: `file:${join(dir, `f${++n}`)}` }))
  renameSuite('postgres', () => freshPostgres('rename'))
  renameSuite('redis', () => freshRedis('rename'))

  it('file: the root folder (session "default") cannot be renamed', async () => {
    const store = await openStore(`file:${join(dir, `f${++n}`)}`)
    try {
      assert.equal(store.canRename('.staging:default', 'default'), false)
      assert.equal(store.canRename('.staging:alice', 'alice'), true)
    } finally {
      await store.close()
    }
  })
})

/** A target session with keys and no creds: what an interrupted in-place copy leaves. */
async function halfMade(url: string, session: string): Promise<void> {
  const store = await openStore(url)
  await store.write(session, {
    set: [
      ['pre-key', '1', keyPair(1)],
      ['pre-key', '2', keyPair(2)]
    ]
  })
  await store.close()
}

describe('a session with keys and no creds', () => {
  it('useAuthState refuses it with CORRUPT_DATA naming the session and both ways out, and writes nothing', async () => {
    const url = sqliteUrl()
    await halfMade(url, 'bob')
    const store = await openStore(url)
    try {
      await assert.rejects(store.useAuthState('bob'), err => {
        assert.ok(isVaultError(err, 'CORRUPT_DATA'), String(err))
        assert.match(err.message, /Session "bob"/)
        assert.match(err.message, /--overwrite/)
        assert.match(err.message, /baileys-vault drop .* --session "bob"/)
        return true
      })
      assert.equal(await store.readCreds('bob'), undefined, 'no creds were written')
      assert.equal(await countKeys(store, 'bob'), 2, 'no key was written or removed')
      // A session with nothing at all is still a new device.
      assert.equal((await store.useAuthState('new')).isNew, true)
    } finally {
      await store.close()
    }
  })

  it('a rerun of migrate says the earlier run was interrupted and that --overwrite is safe', async () => {
    const url = sqliteUrl()
    await halfMade(url, 'alice')
    const [from, to] = [await openStore(source), await openStore(url)]
    try {
      await assert.rejects(migrate(from, to, { sessions: ['alice'] }), err => {
        assert.ok(isVaultError(err, 'INVALID_ARGUMENT'), String(err))
        assert.match(err.message, /"alice".*keys but no creds: an earlier migrate or restore into them was interrupted/)
        assert.match(err.message, /--overwrite\) is safe/)
        return true
      })
      assert.equal(await countKeys(to, 'alice'), 2, 'nothing was written')
      const r = await migrate(from, to, { sessions: ['alice'], overwrite: true })
      assert.ok(r.ok)
      assert.equal((await to.useAuthState('alice')).isNew, false)
    } finally {
      await from.close()
      await to.close()
    }
  })
})

describe('baileys-vault drop', () => {
  async function twoSessions(): Promise<string> {
    const url = sqliteUrl()
    const store = await openStore(url)
    for (const s of ['alice', 'bob']) await store.write(s, { creds: initAuthCreds(), set: [['pre-key', '1', keyPair(1)]] })
    await store.close()
    return url
  }
  const sessionsOf = async (url: string) => {
    const store = await openStore(url)
    try {
      return await list(store.sessions())
    } finally {
      await store.close()
    }
  }

  it('--yes removes exactly one session (text and --json)', async () => {
    const url = await twoSessions()
    const r = await runCli(['drop', url, '--session', 'alice', '--yes'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /removed session "alice" \(creds and 1 key/)
    assert.deepEqual(await sessionsOf(url), ['bob'])
    const j = await runCli(['drop', url, '--session', 'bob', '--yes', '--json'])
    assert.equal(j.code, 0, j.stderr)
    assert.deepEqual({ ...j.json(), store: undefined }, { store: undefined, session: 'bob', dropped: true, creds: true, keys: 1, counts: { 'pre-key': 1 } })
    assert.deepEqual(await sessionsOf(url), [])
  })

  it('without --yes and without a terminal it exits 2, says to pass --yes, and removes nothing', async () => {
    const url = await twoSessions()
    const child = spawn(process.execPath, [BIN, 'drop', url, '--session', 'alice'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', d => (stderr += d))
    const code = await new Promise<number | null>(resolve => child.on('exit', resolve))
    assert.equal(code, 2)
    assert.match(stderr, /pass --yes/)
    assert.deepEqual(await sessionsOf(url), ['alice', 'bob'])
  })

  it('a missing session is NOT_FOUND (exit 2); a leftover staging session can be dropped', async () => {
    const url = await twoSessions()
    const r = await runCli(['drop', url, '--session', 'nope', '--yes'])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /Session "nope" has no creds and no keys/)
    const store = await openStore(url)
    await store.write('.staging:carol', { set: [['pre-key', '1', keyPair(1)]] })
    await store.close()
    const d = await runCli(['drop', url, '--session', '.staging:carol', '--yes'])
    assert.equal(d.code, 0, d.stderr)
    const check = await openStore(url)
    try {
      assert.deepEqual(await list(check.stagingSessions()), [])
      assert.deepEqual(await list(check.sessions()), ['alice', 'bob'])
    } finally {
      await check.close()
    }
  })
})
