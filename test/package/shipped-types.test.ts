/**
 * The shipped types (dist/*.d.ts reachable from the package's entry points) import only packages
 * that carry their own types: a user without @types/better-sqlite3 or @types/ws (devDependencies
 * of this package, not of theirs) must be able to type-check with skipLibCheck off. Issue 20.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { it } from 'node:test'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))

/** Every .d.ts reachable from the entry points' types, and the bare packages they import. */
function reachable(): { files: Set<string>; packages: Map<string, string> } {
  const files = new Set<string>()
  const packages = new Map<string, string>()
  const todo = Object.values(pkg.exports as Record<string, { types?: string }>)
    .map(e => e.types)
    .filter((t): t is string => !!t)
    .map(t => resolve(ROOT, t))
  while (todo.length) {
    const file = todo.pop()!
    if (files.has(file)) continue
    files.add(file)
    // Comments left out: their prose may say `from "…"` too.
    const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '')
    for (const [, spec = ''] of text.matchAll(/(?:from|import\()\s*['"]([^'"]+)['"]/g)) {
      if (spec.startsWith('.')) todo.push(resolve(dirname(file), spec.replace(/\.js$/, '.d.ts')))
      else if (!spec.startsWith('node:')) packages.set(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] ?? spec), file)
    }
  }
  return { files, packages }
}

/** A package ships its own types when its package.json names them (types, typings, or exports conditions). */
function shipsTypes(name: string): boolean {
  const file = join(ROOT, 'node_modules', name, 'package.json')
  if (!existsSync(file)) return false
  const meta = JSON.parse(readFileSync(file, 'utf8'))
  return !!(meta.types || meta.typings || JSON.stringify(meta.exports ?? {}).includes('"types"'))
}

it('the public .d.ts import only packages that ship their own types', () => {
  const { files, packages } = reachable()
  assert.ok(files.size > 10, `found ${files.size} declaration files`)
  const missing = [...packages].filter(([name]) => !shipsTypes(name)).map(([name, file]) => `${name} (imported by ${file.slice(ROOT.length + 1)})`)
  assert.deepEqual(missing, [])
})
