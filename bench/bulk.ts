import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { toBufferJson } from '../src/codec/buffer-json.js'
import type { OpenStoreOptions } from '../src/open-store.js'
import { buildTemplate, quietly } from './many-accounts.js'
import { chosenTarget, encryption, pgSchema, withPg, type BenchTarget } from './targets.js'
import { CHANGE_MARGIN_MS } from '../src/drivers/file-changes.js'
import { envInt, first, fmt, load, median, mb, printTable, uniqueId } from './util.js'
import { must } from '../src/core/defined.js'

/**
 * Bulk tools (issue 6, workload 5): migrate and backup throughput, in keys/s, for one session of
 * N keys (default 100,000), starting from a Baileys multi-file folder (file:). Each operation
 * runs in a fresh child process that samples its RSS, so "constant memory" is measured: the peak
 * RSS above the process's baseline, next to the size of the data. Migrate includes its
 * read-back verification of every key (it is part of the tool).
 */
interface Endpoint {
  name: string
  url: string
  options?: OpenStoreOptions
  cleanup?: () => Promise<void>
}

const child = fileURLToPath(new URL('./bulk-child.js', import.meta.url))

async function runChild(spec: object) {
  const { stdout } = await promisify(execFile)(process.execPath, [child, JSON.stringify(spec)], { maxBuffer: 1 << 20, env: process.env })
  return JSON.parse(stdout) as {
    keys: number
    ms: number
    cpuMs: number
    mainCpuMs?: number
    threadsStartedCpuMs: number
    baseRss: number
    peakRss: number
    bytes?: number
  }
}

/** A Baileys folder with `total` keys (Baileys' file names and BufferJSON text), written directly. */
export async function buildFolder(dir: string, total: number): Promise<number> {
  const t = await quietly(() => buildTemplate(2000))
  mkdirSync(dir, { recursive: true })
  const { decodeValue } = await import('../src/codec/values.js')
  writeFileSync(join(dir, 'creds.json'), toBufferJson(decodeValue(t.creds, 'x')))
  // Same mix as many-accounts, scaled: values are the template's, ids made unique.
  const bare = t.set.map(([type, , bytes]) => [type, Buffer.from(bytes).subarray(1)] as const)
  let bytes = 0
  for (let i = 0; i < total; i++) {
    const [type, value] = must(bare[i % bare.length], 'an index modulo the length')
    const id =
      type === 'sender-key'
        ? `1203630${String(i).padStart(11, '0')}@g.us--1558${String(i).padStart(7, '0')}--0`
        : type === 'session' || type === 'identity-key'
          ? `1558${String(i).padStart(7, '0')}.1`
          : String(i)
    writeFileSync(join(dir, `${type}-${id}.json`), value)
    bytes += value.byteLength
  }
  return bytes
}

export async function runBulk(_targets: BenchTarget[]): Promise<void> {
  const total = envInt('BENCH_BULK_KEYS', 100_000)
  const rounds = envInt('BENCH_BULK_ROUNDS', 1)
  console.log(
    `## Bulk tools — one session of ${total} keys from a Baileys folder (file:); migrate (incl. its verification pass) and backup; each in a fresh process; median of ${rounds}\n`
  )
  const root = mkdtempSync(join(tmpdir(), 'vault-bulk-'))
  try {
    const source: Endpoint = { name: 'file: (Baileys folder)', url: `file:${join(root, 'source')}` }
    const dataBytes = await buildFolder(join(root, 'source'), total)
    // A folder written less than a second ago is verified by reading every key again (its file
    // timestamps cannot tell yet what changed during the copy); a folder being migrated is older.
    await new Promise(resolve => setTimeout(resolve, CHANGE_MARGIN_MS + 100))
    const id = uniqueId()
    const all: Endpoint[] = [
      { name: 'memory:', url: 'memory:' },
      { name: 'sqlite: (default)', url: `sqlite:${join(root, 'target.db')}` },
      {
        name: 'sqlite: encrypted',
        url: `sqlite:${join(root, 'target-enc.db')}`,
        options: { encryption: { keys: { k: Buffer.from(encryption.keys.k).toString('base64') }, current: 'k' } }
      },
      { name: 'file: (fsync)', url: `file:${join(root, 'target-folder')}` }
    ]
    if (process.env.VAULT_TEST_POSTGRES_URL) {
      all.push({
        name: 'postgres://',
        url: process.env.VAULT_TEST_POSTGRES_URL,
        options: { postgres: { schema: pgSchema(id) } },
        cleanup: () => withPg(c => c.query(`DROP SCHEMA IF EXISTS "${pgSchema(id)}" CASCADE`))
      })
    }
    if (process.env.VAULT_TEST_REDIS_URL) {
      const url = new URL(process.env.VAULT_TEST_REDIS_URL)
      url.searchParams.set('prefix', `bench-bulk-${id}`)
      all.push({ name: 'redis://', url: url.toString() })
    }
    const targets = all.filter(t => chosenTarget(t.name)) // BENCH_TARGETS
    const rows: string[][] = []
    const row = (op: string, samples: Array<Awaited<ReturnType<typeof runChild>>>, goal = '') => {
      const ms = median(samples.map(s => s.ms))
      const r = first(samples, 'sample')
      const cpuMs = median(samples.map(s => s.cpuMs))
      const mainMs = samples.every(s => s.mainCpuMs !== undefined) ? median(samples.map(s => s.mainCpuMs!)) : NaN
      rows.push([
        op,
        fmt((r.keys / ms) * 1000),
        fmt((r.keys / cpuMs) * 1000),
        fmt((r.keys / mainMs) * 1000),
        fmt(ms / 1000, 2),
        fmt(cpuMs / 1000, 2),
        fmt(mainMs / 1000, 2),
        fmt(median(samples.map(s => s.threadsStartedCpuMs)) / 1000, 2),
        fmt((cpuMs * 1000) / r.keys, 1),
        mb(Math.max(...samples.map(s => s.peakRss - s.baseRss))),
        mb(r.peakRss),
        goal
      ])
    }
    try {
      for (const to of targets) {
        const samples = []
        for (let i = 0; i < rounds; i++) {
          // Each round into a new session where the store is a local file (a new database or
          // folder): what a migration into a new store does. Elsewhere later rounds replace it.
          const fresh = i > 0 && /^(sqlite|file):/.test(to.url)
          samples.push(await runChild({ op: 'migrate', from: source, to: fresh ? { ...to, url: `${to.url}-${i}` } : to, overwrite: i > 0 && !fresh }))
        }
        const keysPerS = (first(samples, 'sample').keys / median(samples.map(s => s.ms))) * 1000
        row(`migrate file: -> ${to.name}`, samples, to.name.startsWith('sqlite: (default') ? `>= 50,000 keys/s ${keysPerS >= 50_000 ? 'met' : 'NOT met'}` : '')
      }
      for (const from of [source, ...targets.filter(t => t.url !== 'memory:')]) {
        const samples = []
        for (let i = 0; i < rounds; i++) samples.push(await runChild({ op: 'backup', from, file: join(root, `backup-${uniqueId()}.gz`) }))
        row(`backup ${from.name}`, samples)
      }
    } finally {
      for (const t of targets) await t.cleanup?.().catch(() => undefined)
      const redis = targets.find(t => t.name === 'redis://')
      if (redis) await runChild({ op: 'drop', from: redis }).catch(() => undefined)
    }
    // CPU s (user + system, all threads): steadier than wall time on a shared machine.
    // keys per CPU-second (all threads) and per main-thread CPU-second: what a loaded machine
    // cannot blur; the main thread bounds the wall time once the folder is read on a worker.
    // Per thread: the main thread, and the threads started during the operation (the read-ahead
    // workers; sampled every 20 ms, see bulk-child); the rest is V8's GC and compiler threads.
    printTable(
      [
        'operation',
        'keys/s',
        'keys/CPU-s',
        'keys/main-thread CPU-s',
        's',
        'CPU s',
        'main-thread CPU s',
        'worker-thread CPU s',
        'CPU µs/key',
        'peak RSS above baseline MB',
        'peak RSS MB',
        'target'
      ],
      rows
    )
    console.log(
      `(${total} keys, ${mb(dataBytes)} MB of values; the source folder is ${mb(statSync(join(root, 'source')).size)} MB of directory entries; load average ${load()})\n`
    )
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}
