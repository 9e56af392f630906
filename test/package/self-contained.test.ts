import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { findOutsidePaths } from '../helpers/outside-paths.js'

/** The checkout this test runs from (build/test inside it). */
const ROOT = execFileSync('git', ['rev-parse', '--show-toplevel'], { cwd: dirname(fileURLToPath(import.meta.url)), encoding: 'utf8' }).trim()

/** Tracked files that make up the project: code, scripts, CI, package metadata and docs. The fixture data is generated key material. */
function projectFiles(): string[] {
  const tracked = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean)
  const inScope = (f: string) => /^(src|test|scripts|bench|\.ci|docs)\//.test(f) || /^(package\.json|tsconfig[^/]*\.json|[^/]+\.md)$/.test(f)
  return tracked.filter(f => inScope(f) && !(f.startsWith('test/fixtures/') && !f.endsWith('.md')))
}

describe('the repository stands alone', () => {
  it('no tracked file reads or names a path outside the repository', () => {
    const files = projectFiles()
    assert.ok(files.includes('package.json') && files.some(f => f.startsWith('src/')), 'git ls-files lists the project')
    const offenders = files.flatMap(file =>
      findOutsidePaths(file, readFileSync(join(ROOT, file), 'utf8')).map(f => `${file}:${f.line}: ${f.reason}: ${f.text}`)
    )
    assert.deepEqual(offenders, [], `Keep everything the project reads inside the repository:\n${offenders.join('\n')}`)
  })

  it('flags what used to be there, and what else escapes', () => {
    const up = '..'
    // test/helpers/fixture.ts before the fixtures moved into the repository.
    const oldFixture =
      "export const FIXTURE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'shared', 'fixtures', 'baileys-7-multifile')"
    assert.equal(findOutsidePaths('test/helpers/fixture.ts', oldFixture).length, 1)
    assert.equal(
      findOutsidePaths('test/helpers/fixture.ts', "join(here, '..', '..', '..', 'test', 'fixtures')").length,
      0,
      'build/test/helpers is three below the root'
    )

    assert.equal(
      findOutsidePaths('src/cli/build-cli.ts', `new URL('${up}/${up}/${up}/package.json', import.meta.url)`).length,
      0,
      'build/src/cli is three below'
    )
    assert.equal(findOutsidePaths('src/cli/build-cli.ts', `new URL('${up}/${up}/${up}/${up}/package.json', import.meta.url)`).length, 1)
    assert.equal(findOutsidePaths('scripts/setup.sh', `cd "$(dirname "$0")/${up}/${up}"`).length, 1, 'a script runs from its own folder')
    assert.equal(findOutsidePaths('README.md', `See ${up}/shared/DESIGN.md`).length, 1)
    assert.equal(findOutsidePaths('docs/cli.md', `Read ${'/'}work/shared/DESIGN.md or ${'/'}home/me/x`).length, 1, 'one finding per line')
    assert.equal(findOutsidePaths('test/drivers/file.test.ts', "['session', '../../etc/passwd']").length, 0, 'test data that stays inside at run time')
  })
})
