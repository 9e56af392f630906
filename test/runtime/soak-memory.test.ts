/**
 * The soak's equal-state memory reading (test/helpers/soak-memory.ts) tells a leak from a heap
 * peak: a child process that keeps what it allocates grows between two readings, one that only
 * made garbage does not, though its plain RSS (what the thirds of the soak's timeline read) grew.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { test } from 'node:test'
import { MEMORY_PRELOAD, rssKbOf, settledReading } from '../helpers/soak-memory.js'
import { useTempDirs } from '../helpers/temp-dirs.js'

const tempDir = useTempDirs('vault-soak-memory-')

// Holds ~100 MB of live objects from the start (so 10 % is well above the noise), then obeys
// `keep N` (N MB more, kept) and `garbage N` (N MB of objects of which every 50th stays alive:
// a peak that leaves V8's old space fragmented, its pages committed for a little live data).
const CHILD = `
const rl = require('node:readline').createInterface({ input: process.stdin })
const objects = mb => Array.from({ length: mb * 10_000 }, (_, i) => ({ s: 'v' + i, n: i, a: [i] }))
const kept = [objects(100)]
rl.on('line', line => {
  const [what, mb] = line.split(' ')
  if (what === 'keep') kept.push(objects(Number(mb)))
  if (what === 'garbage') kept.push(objects(Number(mb)).filter((_, i) => i % 50 === 0))
  setTimeout(() => console.log('done'), 50)
})
console.log('ready')
`

async function child(dir: string) {
  const preload = join(dir, 'preload.cjs')
  writeFileSync(preload, MEMORY_PRELOAD)
  const memoryFile = join(dir, 'memory.jsonl')
  const proc = spawn(process.execPath, ['--require', preload, '-e', CHILD], {
    env: { ...process.env, VAULT_SOAK_MEMORY_FILE: memoryFile, VAULT_SOAK_MEMORY_MS: '60000' },
    stdio: ['pipe', 'pipe', 'inherit']
  })
  const lines = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]()
  const next = async () => (await lines.next()).value as string
  assert.equal(await next(), 'ready')
  const startedAt = Date.now()
  return {
    proc,
    async send(command: string) {
      proc.stdin!.write(`${command}\n`)
      assert.equal(await next(), 'done')
    },
    reading: () => settledReading({ child: proc, memoryFile, startedAt, settleMs: 2_000 }),
    rssMb: () => rssKbOf(proc.pid!) / 1024
  }
}

test('a process that keeps what it allocates grows between two equal-state readings', { timeout: 60_000 }, async t => {
  const c = await child(tempDir())
  t.after(() => c.proc.kill('SIGKILL'))
  const warm = await c.reading()
  await c.send('keep 40')
  const end = await c.reading()
  assert.ok(warm && end, 'both readings answered')
  t.diagnostic(`RSS ${warm.rssMb.toFixed(1)} -> ${end.rssMb.toFixed(1)} MB, heap used ${warm.heapUsedMb.toFixed(1)} -> ${end.heapUsedMb.toFixed(1)} MB`)
  assert.ok(end.heapUsedMb - warm.heapUsedMb > 20, `heap used ${warm.heapUsedMb.toFixed(1)} -> ${end.heapUsedMb.toFixed(1)} MB`)
  assert.ok(end.rssMb / warm.rssMb - 1 > 0.1, `RSS ${warm.rssMb.toFixed(1)} -> ${end.rssMb.toFixed(1)} MB`)
})

test('a heap peak of garbage moves plain RSS, not the equal-state reading', { timeout: 60_000 }, async t => {
  const c = await child(tempDir())
  t.after(() => c.proc.kill('SIGKILL'))
  const warm = await c.reading()
  await c.send('garbage 200')
  // Control: sampled as the timeline samples it, the same process looks like it grew.
  const plain = c.rssMb()
  const end = await c.reading()
  assert.ok(warm && end, 'both readings answered')
  t.diagnostic(
    `RSS ${warm.rssMb.toFixed(1)} -> plain ${plain.toFixed(1)} -> settled ${end.rssMb.toFixed(1)} MB (committed heap ${warm.heapTotalMb.toFixed(1)} -> ${end.heapTotalMb.toFixed(1)} MB)`
  )
  assert.ok(plain / warm.rssMb - 1 > 0.3, `plain RSS ${warm.rssMb.toFixed(1)} -> ${plain.toFixed(1)} MB: the peak shows there`)
  // +6-8 % quietly, +10.8 % once under CI's two workers (the 2 % of the garbage kept, and native
  // memory not yet returned); without the compaction +20-23 %: the bound sits between the two.
  assert.ok(Math.abs(end.rssMb / warm.rssMb - 1) < 0.15, `settled RSS ${warm.rssMb.toFixed(1)} -> ${end.rssMb.toFixed(1)} MB`)
})
