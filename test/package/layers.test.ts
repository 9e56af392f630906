import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

/**
 * Dependencies point down only (ARCHITECTURE.md): a module may import its own layer and the
 * layers below it, never one above. `open-store.ts` is the composition root between auth/ and
 * tools/; the simulator stands on core/ alone; testing/ ships the conformance suite.
 */
const ORDER = ['core', 'codec', 'drivers', 'store', 'auth', 'open-store', 'tools', 'runtime', 'cli']
const SIDE: Record<string, string[]> = { sim: ['core'], testing: ['core', 'codec', 'drivers', 'store', 'auth'] }

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'src')

function layerOf(file: string): string {
  const [first = ''] = relative(SRC, file).split('/')
  return first.replace(/\.(ts|js)$/, '')
}

function* sources(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) yield* sources(join(dir, entry.name))
    else if (entry.name.endsWith('.ts')) yield join(dir, entry.name)
  }
}

function allowed(from: string, to: string): boolean {
  if (from === to || from === 'index') return true
  if (SIDE[from]) return SIDE[from].includes(to)
  if (to === 'sim' || to === 'testing') return from === 'cli'
  const a = ORDER.indexOf(from)
  const b = ORDER.indexOf(to)
  return a !== -1 && b !== -1 && b <= a
}

/** A Store's driver, codec or guard used from outside store/ and auth/ (the tools use its methods). */
const reachesBehindStore = (line: string): boolean =>
  /\b(store|from|to|target|source|backupStore|this\.store)\.(driver|codec|guard)\b/.test(line) || /\bStore\.internals\(/.test(line)

describe('layers', () => {
  it('every import in src/ points to the same layer or one below it', () => {
    const wrong: string[] = []
    let imports = 0
    for (const file of sources(SRC)) {
      const text = readFileSync(file, 'utf8')
      for (const match of text.matchAll(/^(?:import|export)[^'"]*?from '(\.[^']+)'|import\('(\.[^']+)'\)/gm)) {
        const target = resolve(dirname(file), match[1] ?? match[2] ?? '')
        imports++
        if (!allowed(layerOf(file), layerOf(target))) wrong.push(`${relative(SRC, file)} imports ${relative(SRC, target)}`)
      }
    }
    assert.ok(imports > 100, 'the scan found the imports')
    assert.deepEqual(wrong, [])
  })

  it('only store/ and auth/ reach behind a Store (its driver, codec or guard)', () => {
    const reaches: string[] = []
    for (const file of sources(SRC)) {
      const layer = layerOf(file)
      if (layer === 'store' || layer === 'auth') continue
      const text = readFileSync(file, 'utf8')
      for (const line of text.split('\n')) if (reachesBehindStore(line)) reaches.push(`${relative(SRC, file)}: ${line.trim()}`)
    }
    assert.deepEqual(reaches, [])
  })

  it('the seam rule itself notices a reach', () => {
    assert.equal(reachesBehindStore('    const p = store.codec.protection(bytes)'), true)
    assert.equal(reachesBehindStore('  if (store.driver.lease) return'), true)
    assert.equal(reachesBehindStore("  return store.guard('x', s, fn)"), true)
    assert.equal(reachesBehindStore('  const { codec } = Store.internals(store)'), true)
    assert.equal(reachesBehindStore('    const d = ctx.driver()'), false)
    assert.equal(reachesBehindStore('  if (store.supportsLeases) return'), false)
  })

  it('the rule itself refuses an upward import', () => {
    assert.equal(allowed('store', 'auth'), false)
    assert.equal(allowed('drivers', 'tools'), false)
    assert.equal(allowed('sim', 'store'), false)
    assert.equal(allowed('auth', 'store'), true)
  })
})
