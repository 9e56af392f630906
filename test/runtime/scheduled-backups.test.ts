import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { initAuthCreds } from '@whiskeysockets/baileys'
import { createMemoryDriver } from '../../src/drivers/memory.js'
import { openStore } from '../../src/open-store.js'
import { LEDGER_FILE, scheduleBackups } from '../../src/runtime/backup-schedule.js'
import { parseDuration } from '../../src/runtime/duration.js'
import { verifyBackup } from '../../src/tools/restore.js'
import { instrument } from '../helpers/faulty-driver.js'

const root = mkdtempSync(join(tmpdir(), 'vault-backup-schedule-'))
after(() => rmSync(root, { recursive: true, force: true }))
let n = 0

async function storeWithSessions(...sessions: string[]) {
  const store = await openStore(`memory:schedule-${process.pid}-${++n}`)
  for (const s of sessions) await store.write(s, { creds: initAuthCreds(), set: [['pre-key', '1', { public: Buffer.from([1]), private: Buffer.from([2]) }]] })
  return store
}

const vaultFiles = (dir: string) =>
  readdirSync(dir)
    .filter(f => f.endsWith('.vault'))
    .sort()

describe('scheduled backups', () => {
  it('writes one verifiable file per session per round and keeps only the newest `keep` it wrote', async () => {
    const store = await storeWithSessions('main', 'second')
    const dir = join(root, `keep-${++n}`)
    const events: string[] = []
    const schedule = scheduleBackups({ store, dir, everyMs: 3_600_000, keep: 2, sessions: () => ['main', 'second'], onBackup: e => events.push(e.session) })
    // Files the schedule did not write, even with a look-alike name, are never deleted.
    await schedule.runNow()
    writeFileSync(join(dir, 'main-20200101T000000000Z-abcdef.vault'), 'not ours')
    writeFileSync(join(dir, 'notes.txt'), 'keep me')
    for (let i = 0; i < 3; i++) await schedule.runNow()
    await schedule.stop()
    assert.deepEqual(events, ['main', 'second', 'main', 'second', 'main', 'second', 'main', 'second'])
    const files = vaultFiles(dir)
    assert.equal(files.filter(f => f.startsWith('main-')).length, 3, 'two scheduled backups of main, plus the foreign look-alike')
    assert.ok(files.includes('main-20200101T000000000Z-abcdef.vault'))
    assert.equal(readFileSync(join(dir, 'notes.txt'), 'utf8'), 'keep me')
    assert.equal(files.filter(f => f.startsWith('second-')).length, 2)
    const ledger = JSON.parse(readFileSync(join(dir, LEDGER_FILE), 'utf8'))
    assert.equal(ledger.files.length, 4)
    for (const entry of ledger.files) await verifyBackup(join(dir, entry.file))
    await store.close()
  })

  it('ticks on its own at the configured interval', async () => {
    const store = await storeWithSessions('main')
    const dir = join(root, `tick-${++n}`)
    let resolve!: () => void
    const twoRounds = new Promise<void>(r => (resolve = r))
    let count = 0
    const schedule = scheduleBackups({ store, dir, everyMs: 50, keep: 5, sessions: () => ['main'], onBackup: () => ++count === 2 && resolve() })
    await twoRounds
    await schedule.stop()
    const after = vaultFiles(dir).length
    assert.ok(after >= 2)
    await new Promise(r => setTimeout(r, 150))
    assert.equal(vaultFiles(dir).length, after, 'no round runs after stop()')
    await store.close()
  })

  it('a failed backup is reported and retried at the next round; the session store is untouched', async () => {
    const inner = await createMemoryDriver({ name: `fail-${process.pid}-${++n}` })
    const { driver } = instrument(inner)
    const store = await openStore(driver)
    await store.write('main', { creds: initAuthCreds() })
    const dir = join(root, `fail-${++n}`)
    const errors: unknown[] = []
    let sessions: string[] = ['main', 'missing']
    const schedule = scheduleBackups({ store, dir, everyMs: 3_600_000, keep: 3, sessions: () => sessions, onError: e => errors.push(e.error) })
    await schedule.runNow()
    assert.equal(errors.length, 1, 'the missing session fails alone')
    assert.equal((errors[0] as { code?: string }).code, 'NOT_FOUND')
    assert.equal(vaultFiles(dir).length, 1, 'the other session was backed up')
    sessions = ['main']
    await schedule.runNow()
    assert.equal(vaultFiles(dir).length, 2)
    await schedule.stop()
    await store.close()
  })

  it('refuses a zero interval, a bad retention and bad durations', async () => {
    const store = await storeWithSessions('main')
    assert.throws(() => scheduleBackups({ store, dir: root, everyMs: 0, keep: 1, sessions: () => [] }), { code: 'INVALID_ARGUMENT' })
    assert.throws(() => scheduleBackups({ store, dir: root, everyMs: 10, keep: 0, sessions: () => [] }), { code: 'INVALID_ARGUMENT' })
    for (const bad of ['0', '0s', '1x', '', '-5m', '10']) assert.throws(() => parseDuration(bad, '--backup-every'), { code: 'INVALID_ARGUMENT' }, bad)
    assert.equal(parseDuration('24h', 'x'), 86_400_000)
    assert.equal(parseDuration('1.5s', 'x'), 1500)
    assert.equal(parseDuration('250ms', 'x'), 250)
    await store.close()
  })
})
