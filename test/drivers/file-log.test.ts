import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { createFileDriver } from '../../src/drivers/file.js'
import { decodeRecords, encodeRecord, type LogOp } from '../../src/drivers/file-log-format.js'
import { loggedWrites } from '../../src/drivers/file-folder.js'

const temps: string[] = []
after(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true })
})
const tempRoot = (label: string) => {
  const dir = mkdtempSync(join(tmpdir(), `vault-filelog-${label}-`))
  temps.push(dir)
  return join(dir, 'auth')
}
const text = (s: string) => Buffer.from(s, 'utf8')
const shown = (records: LogOp[][]) => records.map(ops => ops.map(op => (op.value ? `${op.target}=${Buffer.from(op.value)}` : `-${op.target}`)))

/** A record as versions before format 2 wrote it (JSON, base64 values), byte for byte. */
function formatOneRecord(ops: LogOp[]): Buffer {
  const body = Buffer.from(JSON.stringify(ops.map(op => (op.value ? [op.target, Buffer.from(op.value).toString('base64')] : [op.target]))), 'utf8')
  const sum = createHash('sha256').update(body).digest('hex')
  return Buffer.concat([Buffer.from(`baileys-vault log 1 ${body.length} ${sum}\n`, 'utf8'), body])
}

const first: LogOp[] = [{ target: 'creds.json', value: text('{"me":1}') }, { target: 'pre-key-1.json', value: new Uint8Array(0) }, { target: 'pre-key-2.json' }]
const second: LogOp[] = [{ target: 'session-1.0.json', value: text('é'.repeat(70_000)) }]

describe('file: commit log records', () => {
  it('round-trips binary records; the views the index keeps are the values', () => {
    const a = encodeRecord(first)
    const b = encodeRecord(second)
    assert.deepEqual(shown(decodeRecords(Buffer.concat([a.bytes, b.bytes]))), shown([first, second]))
    assert.deepEqual(
      a.views.map(v => v && Buffer.from(v).toString()),
      ['{"me":1}', '', undefined]
    )
  })

  it('a torn or damaged record ends the log: the records before it are kept', () => {
    const a = encodeRecord(first).bytes
    const b = encodeRecord(second).bytes
    for (let cut = 1; cut < b.length; cut += 997)
      assert.deepEqual(shown(decodeRecords(Buffer.concat([a, b.subarray(0, cut)]))), shown([first]), `cut at ${cut}`)
    const damaged = Buffer.from(b)
    damaged.writeUInt8(damaged.readUInt8(damaged.length - 1) ^ 1, damaged.length - 1)
    assert.deepEqual(shown(decodeRecords(Buffer.concat([a, damaged, a]))), shown([first]))
    const unsafe = encodeRecord([{ target: '../escape', value: text('x') }]).bytes
    assert.deepEqual(shown(decodeRecords(Buffer.concat([a, unsafe]))), shown([first]), 'a name that leaves the folder is never replayed')
  })

  it('reads format 1 records (earlier versions), alone and followed by format 2', () => {
    assert.deepEqual(shown(decodeRecords(Buffer.concat([formatOneRecord(first), encodeRecord(second).bytes]))), shown([first, second]))
  })

  it('an open replays a format 1 log left by an earlier version, durably, and removes it', async () => {
    const root = tempRoot('v1')
    const d0 = await createFileDriver({ path: root })
    await d0.write('default', { set: [['pre-key', '2', text('old 2')]], del: [] })
    await d0.close()
    writeFileSync(join(root, '.vault-log-1'), Buffer.concat([formatOneRecord(first), formatOneRecord(second).subarray(0, 50)]))
    const d = await createFileDriver({ path: root })
    assert.equal(Buffer.from((await d.getCreds('default'))!).toString(), '{"me":1}')
    assert.deepEqual([...(await d.get('default', 'pre-key', ['1', '2'])).keys()], ['1'], 'the delete of pre-key 2 ran; the torn record did not')
    assert.deepEqual(readdirSync(root).sort(), ['creds.json', 'pre-key-1.json'])
    await d.close()
  })
})

describe('file: committed writes before their files', () => {
  it('are served from the log to this store and to a read-only open, and reach the files at the checkpoint', async () => {
    const root = tempRoot('lazy')
    const d = await createFileDriver({ path: root })
    for (let i = 0; i < 5; i++) await d.write('default', { set: [['session', '1.0', text(`v${i}`)]], del: [] })
    await d.write('default', { creds: text('c'), set: [], del: [] })
    assert.deepEqual(
      readdirSync(root).filter(n => !n.startsWith('.vault-log-')),
      [],
      'no file yet: the log holds the writes'
    )
    assert.equal(Buffer.from((await d.get('default', 'session', ['1.0'])).get('1.0')!).toString(), 'v4')
    const reader = await createFileDriver({ path: root, readOnly: true })
    assert.equal(Buffer.from((await reader.get('default', 'session', ['1.0'])).get('1.0')!).toString(), 'v4')
    assert.equal(Buffer.from((await reader.getCreds('default'))!).toString(), 'c')
    assert.equal(await reader.unfinishedBatch!('default'), true)
    await d.write('default', { set: [], del: [['session', '1.0']] })
    assert.equal((await reader.get('default', 'session', ['1.0'])).size, 0, 'a logged delete hides the key')
    await reader.close()
    await d.write('default', { set: [['session', '1.0', text('last')]], del: [] })
    await d.close() // the checkpoint
    assert.deepEqual(readdirSync(root).sort(), ['creds.json', 'session-1.0.json'])
    assert.equal(readFileSync(join(root, 'session-1.0.json'), 'utf8'), 'last')
  })
})

describe('file: a writer faster than the checkpoints', () => {
  it('waits for them: the values held in memory until they are in place stay bounded (a migration into a folder)', async () => {
    const root = tempRoot('backlog')
    const d = await createFileDriver({ path: root })
    const MiB = 1024 * 1024
    const pendingBytes = () => [...(loggedWrites(root)?.values() ?? [])].reduce((n, w) => n + (w.value?.byteLength ?? 0), 0)
    let most = 0
    // 48 MiB in 1 MiB batches of new files: each checkpoint writes and fdatasyncs 64 files per MiB, far slower than an append.
    for (let batch = 0; batch < 48; batch++) {
      const set = Array.from({ length: 64 }, (_, i) => ['pre-key', `${batch * 64 + i}`, Buffer.alloc(16 * 1024, batch)] as [string, string, Buffer])
      await d.write('default', { set, del: [] })
      most = Math.max(most, pendingBytes())
    }
    await d.close()
    assert.ok(most > 0, 'the index held committed values')
    // Checkpoints start at 4 MiB of log; two in flight plus the current log, each up to 4 MiB and a batch.
    assert.ok(most <= 16 * MiB, `at most 16 MiB held in memory, saw ${(most / MiB).toFixed(1)} MiB`)
    assert.equal(readdirSync(root).filter(n => n.startsWith('pre-key-')).length, 48 * 64, 'every key in place after close')
  })
})
