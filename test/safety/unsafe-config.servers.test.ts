/**
 * Unsafe or wrong store configurations are said, not silently accepted (issue 20, items 4 and 9),
 * against a second, real redis-server this test starts on a free loopback port: no AOF, and 4
 * databases instead of 16.
 *  - A database the server does not have is INVALID_ARGUMENT naming the valid range (asked with
 *    CONFIG GET databases; with CONFIG refused by an ACL, SELECT's answer decides), and nothing is
 *    written into database 0. A database it has is where the data lands.
 *  - Redis without AOF: Store.warnings(), a doctor finding, one stderr line from the CLI, one
 *    logger warn from the runtime however many sessions; none with AOF on or CONFIG refused.
 *  - Scheduled backups of a store without a key warn once; with a key they do not.
 */
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { isVaultError } from '../../src/core/errors.js'
import { openStore } from '../../src/open-store.js'
import { createSession } from '../../src/runtime/start-session.js'
import { scheduleBackups } from '../../src/runtime/backup-schedule.js'
import { doctor } from '../../src/tools/doctor.js'
import { testEncryption } from '../helpers/encryption-keys.js'
import { spawnCli } from '../helpers/run-child.js'
import { requireEnv } from '../helpers/servers.js'

const dir = mkdtempSync(join(tmpdir(), 'vault-unsafe-config-'))
let server: ChildProcess
let port = 0
const url = (path: string, user = '') => `redis://${user}127.0.0.1:${port}${path}`

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>(resolve => s.listen(0, '127.0.0.1', resolve))
  const p = (s.address() as AddressInfo).port
  await new Promise(resolve => s.close(resolve))
  return p
}

async function raw(db: number): Promise<Redis> {
  const client = new Redis({ host: '127.0.0.1', port, db, lazyConnect: true, maxRetriesPerRequest: 1 })
  client.on('error', () => undefined)
  await client.connect()
  return client
}

before(async () => {
  port = await freePort()
  server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--appendonly', 'no', '--save', '', '--databases', '4', '--dir', dir], {
    stdio: 'ignore'
  })
  for (let i = 0; ; i++) {
    if (
      spawnSync('redis-cli', ['-p', String(port), 'PING'])
        .stdout?.toString()
        .trim() === 'PONG'
    )
      break
    if (i > 200) throw new Error('the redis-server of this test did not start')
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  // A user that may not use CONFIG, as on managed Redis services.
  spawnSync('redis-cli', ['-p', String(port), 'ACL', 'SETUSER', 'limited', 'on', '>pw', '~*', '+@all', '-config'])
})
after(() => {
  server?.kill('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
})

const invalid = (pattern: RegExp) => (err: unknown) => isVaultError(err, 'INVALID_ARGUMENT') && pattern.test(err.message)

describe('Redis database numbers', () => {
  it('a database outside 0..databases-1 or not a number is INVALID_ARGUMENT; database 0 gets nothing', async () => {
    for (const path of ['/4', '/99']) await assert.rejects(openStore(url(path)), invalid(/this server has 4 databases.*0 to 3/), path)
    for (const path of ['/abc', '/-1', '/1.5']) await assert.rejects(openStore(url(path)), invalid(/The database in store URL .* whole number/), path)
    // CONFIG refused: SELECT's answer decides, and the message says so.
    await assert.rejects(openStore(url('/15', 'limited:pw@')), invalid(/database 15, which this server does not have/))
    await assert.rejects(openStore(url('/16', 'limited:pw@')), invalid(/by default 16 databases.*0 to 15/))
    const db0 = await raw(0)
    try {
      assert.equal(await db0.dbsize(), 0, 'nothing was written into database 0')
      // Control: a database the server has is where the store lives.
      for (const user of ['', 'limited:pw@']) {
        const store = await openStore(url('/3?prefix=p', user))
        await (await store.useAuthState('s')).saveCreds()
        await store.close()
      }
      const db3 = await raw(3)
      assert.equal(await db3.exists('p:s:s:creds'), 1)
      db3.disconnect()
      assert.equal(await db0.dbsize(), 0)
    } finally {
      db0.disconnect()
    }
  })
})

describe('Redis without AOF', () => {
  it('is a warning of the store, a doctor finding, one CLI stderr line and one runtime warn per process', async () => {
    const store = await openStore(url('/1?prefix=w'))
    try {
      const [warning = assert.fail('a warning')] = store.warnings()
      assert.match(warning, /without AOF \(appendonly no\).*Set appendonly yes/)
      await (await store.useAuthState('a')).saveCreds()
      const report = await doctor(store)
      assert.ok(report.findings.some(f => f.code === 'UNSAFE_BACKEND_CONFIG' && f.severity === 'warning'))
      assert.equal(report.ok, false)
      // The runtime: one warn for the process, whatever the number of sessions.
      const warns: string[] = []
      const logger = { debug() {}, info() {}, error() {}, warn: (_o: object, m?: string) => void warns.push(m ?? '') }
      await createSession(store, 'a', { logger, lease: false })
      await createSession(store, 'b', { logger, lease: false })
      assert.deepEqual(warns, [warning])
    } finally {
      await store.close()
    }
    // The CLI: one stderr line, then doctor reports it.
    const cli = spawnCli(['doctor', url('/1?prefix=w')])
    const { code } = await cli.exited(30_000)
    assert.equal(code, 1)
    assert.equal(cli.stderr().match(/warning: .*appendonly no/g)?.length, 1, cli.stderr())
    assert.match(cli.stdout(), /appendonly no/)
  })

  it('no warning with AOF on (the test servers) or when CONFIG is refused', async () => {
    const aof = await openStore(requireEnv('VAULT_TEST_REDIS_URL'))
    const limited = await openStore(url('/2', 'limited:pw@'))
    try {
      assert.deepEqual(aof.warnings(), [])
      assert.deepEqual(limited.warnings(), [])
    } finally {
      await Promise.all([aof.close(), limited.close()])
    }
  })
})

describe('scheduled backups', () => {
  it('of a store without a key warn once that the files are not encrypted; with a key they do not', async () => {
    for (const encryption of [undefined, testEncryption()]) {
      const store = await openStore(`sqlite:${join(dir, `${encryption ? 'sealed' : 'plain'}.db`)}`, { encryption })
      await (await store.useAuthState('a')).saveCreds()
      await (await store.useAuthState('b')).saveCreds()
      const warnings: string[] = []
      const schedule = scheduleBackups({
        store,
        dir: join(dir, encryption ? 'sealed' : 'plain'),
        everyMs: 3_600_000,
        keep: 3,
        sessions: () => ['a', 'b'],
        onWarning: m => void warnings.push(m),
        onError: ({ error }) => assert.fail(String(error))
      })
      await schedule.runNow()
      await schedule.runNow()
      await schedule.stop()
      await store.close()
      if (encryption) assert.deepEqual(warnings, [])
      else {
        assert.equal(warnings.length, 1, 'once, for 4 backups')
        assert.match(warnings[0] ?? '', /NOT encrypted .*BAILEYS_VAULT_KEY/)
      }
    }
  })
})
