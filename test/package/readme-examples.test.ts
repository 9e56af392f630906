import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { ROOT, typecheck } from '../helpers/typecheck.js'

/**
 * The README's TypeScript examples compile against the package's real types (imported by
 * the published name, resolved through package.json "exports"), so the docs cannot drift
 * from the API.
 */
describe('README', () => {
  it('every TypeScript example type-checks against the built package', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map(m => m[1])
    assert.ok(blocks.length >= 3, 'the README has its examples')
    const errors = typecheck(Object.fromEntries(blocks.map((code, i) => [`example${i}.ts`, `${code}\nexport {}\n`])), 'readme-')
    if (errors) assert.fail(`README examples do not compile:\n${errors}`)
  })
})
