/**
 * Moving in from Evolution API: its PostgreSQL "Session" table with the Redis hash of keys (its
 * .env.example setup), with the `instances/<id>/` folders, and Redis alone, each written as
 * Evolution writes it (test/helpers/import-layouts.ts), read in place by `evolution+…` URLs.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { openStore } from '../../src/open-store.js'
import { migrate } from '../../src/tools/migrate.js'
import { createMemoryDriver } from '../../src/drivers/memory.js'
import { isVaultError } from '../../src/core/errors.js'
import { copyFixture, fixtureFacts } from '../helpers/fixture.js'
import { assertConversationContinues } from '../helpers/conversation.js'
import { runCli } from '../helpers/tools-cli.js'
import { deleteRedisPrefix, freshPostgres, requireEnv } from '../helpers/servers.js'
import { assertLinkedDeviceMovesIn } from '../helpers/linked-device-moves-in.js'
import { useSimulator } from '../helpers/use-simulator.js'
import {
  allSessions,
  baileysFolderTexts,
  createEvolutionTables,
  hashSnapshot,
  migrateUrls,
  sessionRows,
  withPg,
  withRedis,
  writeEvolutionCreds,
  writeEvolutionInstanceFolder,
  writeEvolutionRedisKeys
} from '../helpers/import-layouts.js'

const dir = mkdtempSync(join(tmpdir(), 'vault-import-evolution-'))
const cleanups: Array<() => Promise<void>> = []
after(async () => {
  for (const c of cleanups) await c().catch(() => undefined)
  rmSync(dir, { recursive: true, force: true })
})

const ALICE = fixtureFacts('alice')
const SCHEMA = 'evolution_api'
let n = 0
const sqliteUrl = () => `sqlite:${join(dir, `target-${++n}.db`)}`

type Mode = 'postgres+redis' | 'postgres+instances' | 'redis'

/** A Baileys folder written into one of Evolution's layouts, as instance `instanceId`. */
async function evolutionSource(options: {
  folder: string
  mode: Mode
  instanceId: string
  edit?: (texts: Awaited<ReturnType<typeof baileysFolderTexts>>) => void
}) {
  const { folder, mode, instanceId } = options
  const texts = await baileysFolderTexts(folder)
  options.edit?.(texts)
  const prefix = `evo-${process.pid}-${++n}`
  cleanups.push(() => deleteRedisPrefix(prefix))
  const redis = `${requireEnv('VAULT_TEST_REDIS_URL').replace(/\/$/, '')}?prefix=${prefix}`
  if (mode === 'redis') {
    await writeEvolutionRedisKeys({ prefix, instanceId, keys: texts.keys, credsText: texts.creds })
    return { url: `evolution+${redis}`, texts, snapshot: () => hashSnapshot(`${prefix}:instance:${instanceId}`) }
  }
  const pg = await freshPostgres('evolution')
  cleanups.push(pg.cleanup)
  await createEvolutionTables(pg.url, SCHEMA)
  await writeEvolutionCreds({ pgUrl: pg.url, schema: SCHEMA, instanceId, name: `bot-${n}`, credsText: texts.creds })
  const base = `evolution+${pg.url}${pg.url.includes('?') ? '&' : '?'}schema=${SCHEMA}`
  if (mode === 'postgres+redis') {
    await writeEvolutionRedisKeys({ prefix, instanceId, keys: texts.keys })
    const snapshot = async () => [...(await sessionRows(pg.url, SCHEMA)), ...(await hashSnapshot(`${prefix}:instance:${instanceId}`))]
    return { url: `${base}&redis=${redis}`, texts, snapshot, pgUrl: pg.url }
  }
  const instances = join(dir, `instances-${n}`)
  writeEvolutionInstanceFolder({ folder, instances, instanceId })
  const files = () => readdirSync(join(instances, instanceId)).map(f => `${f}=${readFileSync(join(instances, instanceId, f), 'base64')}`)
  const snapshot = async () => [...(await sessionRows(pg.url, SCHEMA)), ...files()]
  return { url: `${base}&instances=${instances}`, texts, snapshot, pgUrl: pg.url }
}

describe('evolution+… importer: alice (every key type) migrates and her conversation continues', () => {
  for (const mode of ['postgres+redis', 'postgres+instances', 'redis'] as const) {
    it(`${mode}: migrate copies creds and every key, the conversation continues, the source is unchanged`, async () => {
      const instanceId = `clx${mode.replace(/\W/g, '')}0001`
      const source = await evolutionSource({ folder: copyFixture('alice'), mode, instanceId })
      const before = await source.snapshot()
      const to = sqliteUrl()
      const run = await runCli(['migrate', source.url, to, '--json'])
      assert.equal(run.code, 0, run.stderr)
      const s = run.json().sessions[0]
      assert.equal(s.session, instanceId, "the session is the Evolution instance's id")
      assert.equal(s.keys, ALICE.keys)
      assert.deepEqual(s.counts, ALICE.byType)
      assert.equal(s.verified, ALICE.keys + 1)
      const target = await openStore(to)
      try {
        await assertConversationContinues(target, instanceId)
      } finally {
        await target.close()
      }
      assert.deepEqual(await source.snapshot(), before, 'the source is read, never written')
    })
  }
})

describe('evolution+postgres://…?redis=…: a device linked through makeWASocket', () => {
  const sim = useSimulator()

  it('logs in from the migrated store without a QR code, and messages decrypt both ways', { timeout: 60_000 }, async () => {
    const instanceId = 'clxlinked0001'
    await assertLinkedDeviceMovesIn({
      sim,
      contactNumber: '15550004444',
      folder: join(dir, 'linked'),
      label: 'evolution',
      writeSource: async ({ folder }) => {
        const source = await evolutionSource({ folder, mode: 'postgres+redis', instanceId })
        return { url: source.url, session: instanceId }
      },
      target: sqliteUrl()
    })
  })
})

describe('evolution+…: damaged rows are refused by name, and nothing is written', () => {
  it('a key stored JSON-encoded once (not as Evolution writes it): CORRUPT_DATA naming session, type and id; the target stays empty', async () => {
    const instanceId = 'clxdamaged0001'
    const source = await evolutionSource({ folder: copyFixture('alice'), mode: 'postgres+redis', instanceId })
    // The last key in listing order, so a copy without the up-front check would have written batches first.
    const last = [...source.texts.keys].sort(([ta, ia], [tb, ib]) => (ta === tb ? (ia < ib ? -1 : 1) : ta < tb ? -1 : 1)).at(-1)!
    const prefix = new URL(new URL(source.url.replace(/^evolution\+/, '')).searchParams.get('redis')!).searchParams.get('prefix')!
    await withRedis(c => c.hset(`${prefix}:instance:${instanceId}`, `${last[0]}-${last[1]}`, last[2]))
    const before = await source.snapshot()
    const to = sqliteUrl()
    await assert.rejects(migrateUrls(source.url, to, { batchSize: 5 }), (err: unknown) => {
      assert.ok(isVaultError(err, 'CORRUPT_DATA'), String(err))
      assert.ok(err.message.includes(`session "${instanceId}" ${last[0]} "${last[1]}"`), err.message)
      assert.ok(!err.message.includes(last[2].slice(-24)), 'the value is never shown')
      return true
    })
    assert.deepEqual(await allSessions(to), [], 'no session, not even a staging copy, on the target')
    assert.deepEqual(await source.snapshot(), before)

    // Control: the same source healed is copied in many writes of 5 keys, so the refusal above came before any write.
    await withRedis(c => c.hset(`${prefix}:instance:${instanceId}`, `${last[0]}-${last[1]}`, JSON.stringify(last[2])))
    const inner = createMemoryDriver()
    let writes = 0
    const counting = await openStore({ ...inner, write: (session, batch) => (writes++, inner.write(session, batch)) })
    const healed = await openStore(source.url)
    try {
      assert.equal((await migrate(healed, counting, { batchSize: 5 })).ok, true)
    } finally {
      await healed.close()
    }
    assert.ok(writes > 10, `copied in ${writes} writes`)
  })

  it('damaged creds in "Session" and an unknown hash field are refused before anything is written', async () => {
    const instanceId = 'clxcreds0001'
    const source = await evolutionSource({ folder: copyFixture('alice'), mode: 'postgres+redis', instanceId })
    await withPg(source.pgUrl!, c => c.query(`UPDATE "${SCHEMA}"."Session" SET creds = $1`, [JSON.stringify('{"noiseKey":')]))
    const to = sqliteUrl()
    const run = await runCli(['migrate', source.url, to, '--json'])
    assert.equal(run.code, 2, run.stdout)
    assert.equal(run.json().error.code, 'CORRUPT_DATA')
    assert.match(run.json().error.message, new RegExp(`session "${instanceId}" creds`))
    assert.deepEqual(await allSessions(to), [])

    const other = await evolutionSource({ folder: copyFixture('alice'), mode: 'redis', instanceId: 'clxfield0001' })
    const prefix = new URL(other.url.replace(/^evolution\+/, '')).searchParams.get('prefix')!
    await withRedis(c => c.hset(`${prefix}:instance:clxfield0001`, 'chat-1234@s.whatsapp.net', '"{}"'))
    const unknown = await runCli(['migrate', other.url, to, '--json'])
    assert.equal(unknown.code, 2)
    assert.equal(unknown.json().error.code, 'UNSUPPORTED_FORMAT')
    assert.match(unknown.json().error.message, /Session "clxfield0001" .* the field "chat-1234@s\.whatsapp\.net"/)
    assert.deepEqual(await allSessions(to), [])
  })
})

describe('evolution+…: the read-only tools read it, the writing ones refuse', () => {
  it('ls, inspect and doctor report the instance; drop, restore and a migrate into it are refused; the source is unchanged', async () => {
    const instanceId = 'clxtools0001'
    const source = await evolutionSource({ folder: copyFixture('alice'), mode: 'postgres+instances', instanceId })
    const before = await source.snapshot()
    const ls = await runCli(['ls', source.url, '--json'])
    assert.equal(ls.code, 0, ls.stderr)
    assert.deepEqual(
      ls.json().sessions.map((s: { session: string; phone: string }) => [s.session, s.phone]),
      [[instanceId, '15550000001']]
    )
    const inspect = await runCli(['inspect', source.url, '--json'])
    assert.equal(inspect.code, 0, inspect.stderr)
    const doctor = await runCli(['doctor', source.url, '--json'])
    assert.ok(doctor.code === 0 || doctor.code === 1, doctor.stderr)
    assert.ok(!/CORRUPT|unreadable/i.test(doctor.stdout), doctor.stdout)

    const backup = join(dir, 'alice.backup')
    assert.equal((await runCli(['backup', source.url, backup])).code, 0, 'a backup only reads')
    for (const argv of [
      ['drop', source.url, '--session', instanceId, '--yes'],
      ['restore', backup, source.url],
      ['migrate', `file:${copyFixture('bob')}`, source.url]
    ]) {
      const run = await runCli(argv)
      assert.equal(run.code, 2, `${argv[0]}: ${run.stdout}${run.stderr}`)
      assert.match(run.stderr, /read-only|reads only|never written|import/i, `${argv[0]}: ${run.stderr}`)
    }
    assert.deepEqual(await source.snapshot(), before)
  })
})
