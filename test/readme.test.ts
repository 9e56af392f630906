import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

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
    mkdirSync(join(ROOT, '.tmp'), { recursive: true })
    const dir = mkdtempSync(join(ROOT, '.tmp', 'readme-'))
    blocks.forEach((code, i) => writeFileSync(join(dir, `example${i}.ts`), `${code}\nexport {}\n`))
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] },
        include: ['*.ts']
      })
    )
    try {
      execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { encoding: 'utf8' })
    } catch (err) {
      assert.fail(`README examples do not compile:\n${(err as { stdout?: string }).stdout}`)
    }
  })
})
