import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { appendRecords } from '../../src/drivers/file-log.js'
import { encodeRecord } from '../../src/drivers/file-log-format.js'
import { folderAt, inTurns, type Folder } from '../../src/drivers/file-folder.js'

/**
 * The file: driver's Folder (file-folder.ts): one per path, whose turn orders every write,
 * checkpoint, drop and rename of the folder. Order is forced by the test, never by timing.
 */

const temps: string[] = []
after(() => temps.forEach(dir => rmSync(dir, { recursive: true, force: true })))
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'bv-folder-'))
  temps.push(dir)
  return dir
}

/** Lets every already-queued promise callback and I/O callback run. */
const settle = async (rounds = 5) => {
  for (let i = 0; i < rounds; i++) await new Promise<void>(resolve => setImmediate(resolve))
}

function deferred() {
  let resolve!: () => void
  const promise = new Promise<void>(res => (resolve = res))
  return { promise, resolve }
}

/** Runs tasks that each wait for their gate, counting how many run at once. */
function concurrency() {
  let running = 0
  let most = 0
  const task = (gate: Promise<void>, log: string[], name: string) => async () => {
    running++
    most = Math.max(most, running)
    log.push(name)
    await gate
    running--
  }
  return { task, most: () => most }
}

describe('file: one Folder per folder path', () => {
  it('the registry gives one Folder per path, so every driver instance on a folder shares its turn and log', () => {
    const dir = tempDir()
    assert.equal(folderAt(dir), folderAt(dir))
    assert.notEqual(folderAt(join(dir, 'a')), folderAt(join(dir, 'b')))
    assert.equal(folderAt(dir).log, folderAt(dir).log)
  })

  it("a folder's turn runs one task at a time, in call order", async () => {
    const folder = folderAt(tempDir())
    const gates = [deferred(), deferred(), deferred()]
    const order: string[] = []
    const c = concurrency()
    const runs = gates.map((g, i) => folder.inTurn(c.task(g.promise, order, `t${i}`)))
    await settle()
    assert.deepEqual(order, ['t0'], 'the second task waits for the first')
    gates[1]?.resolve() // finishing out of order changes nothing
    await settle()
    assert.deepEqual(order, ['t0'])
    gates[0]?.resolve()
    gates[2]?.resolve()
    await Promise.all(runs)
    assert.deepEqual(order, ['t0', 't1', 't2'])
    assert.equal(c.most(), 1)
  })

  it('a task that throws passes the turn on', async () => {
    const folder = folderAt(tempDir())
    await assert.rejects(
      folder.inTurn(async () => {
        throw new Error('boom')
      }),
      /boom/
    )
    assert.equal(await folder.inTurn(async () => 'next'), 'next')
  })

  it('inTurns takes several turns in path order: callers naming the folders in opposite orders never wait on each other', async () => {
    const [a, b] = [folderAt(join(tempDir(), 'a')), folderAt(join(tempDir(), 'b'))]
    const gate = deferred()
    const order: string[] = []
    const c = concurrency()
    const one = inTurns([a, b], c.task(gate.promise, order, 'ab'))
    const two = inTurns([b, a], c.task(Promise.resolve(), order, 'ba'))
    await settle()
    const alone = b.inTurn(c.task(Promise.resolve(), order, 'b'))
    await settle()
    assert.deepEqual(order, ['ab'], 'both folders are held by the first caller')
    gate.resolve()
    await Promise.all([one, two, alone])
    assert.deepEqual([...order].sort(), ['ab', 'b', 'ba'], 'every caller ran')
    assert.equal(c.most(), 1, 'never two at once: each holds b')

    // Control: the same tasks outside the turns overlap, so the counter above would notice.
    const free = concurrency()
    const open = deferred()
    const both = Promise.all([free.task(open.promise, [], 'x')(), free.task(Promise.resolve(), [], 'y')()])
    open.resolve()
    await both
    assert.equal(free.most(), 2)
  })

  it("a checkpoint starts in the folder's turn: not while a write holds it", async () => {
    const dir = tempDir()
    const folder: Folder = folderAt(dir)
    const value = Buffer.alloc(4 * 1024 * 1024, 7) // a log this big is checkpointed at once (CHECKPOINT_BYTES)
    const { bytes, views } = encodeRecord([{ target: 'pre-key-1.json', value }])
    const release = await folder.takeTurn() // as a write does
    await appendRecords([{ log: folder.log, record: bytes, writes: [['pre-key-1.json', views[0] ?? null]] }], false)
    await settle()
    await folder.log.flushesSettled() // a checkpoint started anyway would be waited for here
    assert.ok(
      readdirSync(dir).some(n => n.startsWith('.vault-log-')),
      'the log is still there: the checkpoint waits for the turn'
    )
    assert.equal(folder.log.writes?.size, 1)
    assert.deepEqual(
      readdirSync(dir).filter(n => !n.startsWith('.')),
      [],
      'nothing written in place yet'
    )

    // Control: once the turn is free, the same checkpoint runs and leaves a plain file.
    release()
    await folder.inTurn(async () => undefined) // queued after the checkpoint's start
    await folder.log.flushesSettled()
    assert.deepEqual(readdirSync(dir), ['pre-key-1.json'])
    assert.ok(readFileSync(join(dir, 'pre-key-1.json')).equals(value))
    assert.equal(folder.log.writes?.size, 0)
  })
})
