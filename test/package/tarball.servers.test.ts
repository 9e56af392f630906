import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { assertQuickStartShowsQr, envWithoutNpm, spawnInProject } from '../helpers/packed-project.js'

const ROOT = fileURLToPath(new URL('../../..', import.meta.url))
const run = promisify(execFile)

/**
 * What a user gets from the registry: `npm pack`, then the tarball installed into a new project
 * outside the repository (nothing from the repo's node_modules), with Baileys 7.0.0-rc14 and
 * the README's own examples, extracted from the README text. better-sqlite3 is compiled from
 * source there by its own install script, as on a user's machine without a prebuilt binary
 * (slow: about 4 minutes on a loaded 2-core machine, but it proves the install scripts run and the native module loads).
 */
describe('the packed tarball, installed into a new project', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const examples = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map(m => m[1] ?? '')
  const quickStart = examples.findIndex(code => code.includes("openStore('sqlite:"))
  const simExample = examples.findIndex(code => code.includes("from 'baileys-vault/sim'"))
  const work = mkdtempSync(join(tmpdir(), 'baileys-vault-packaging-'))
  const project = join(work, 'project')
  let packed: Array<{ path: string }> = []

  const env = envWithoutNpm()
  const npm = (args: string[], cwd: string, extra: NodeJS.ProcessEnv = {}) => run('npm', args, { cwd, env: { ...env, ...extra }, maxBuffer: 64 * 1024 * 1024 })

  before(
    async () => {
      assert.ok(quickStart >= 0 && simExample >= 0, 'the README has its quick start and its simulator example')
      const { stdout } = await npm(['pack', '--json', '--pack-destination', work], ROOT)
      const [pack = assert.fail('npm pack made a tarball')] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>
      packed = pack.files
      mkdirSync(project)
      writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'a-new-bot', private: true, type: 'module' }))
      await npm(
        [
          'install',
          '--prefer-offline',
          '--no-audit',
          '--no-fund',
          join(work, pack.filename),
          '@whiskeysockets/baileys@7.0.0-rc14',
          'qrcode@1.5.4',
          'typescript@5.9.3',
          '@types/node@20.19.43',
          '@types/qrcode@1.5.6'
        ],
        project,
        { npm_config_build_from_source: 'true' }
      )
    },
    { timeout: 15 * 60_000 }
  )

  after(() => rmSync(work, { recursive: true, force: true }))

  it('holds no tests, benchmarks or fixtures, and ships every doc the README links to', () => {
    const paths = packed.map(f => f.path)
    const unwanted = paths.filter(p => /(^|\/)(test|tests|bench|fixtures?)(\/|$)|\.test\.|^dist\/(test|bench)\//.test(p))
    assert.deepEqual(unwanted, [])
    const links = [...readme.matchAll(/\]\((docs\/[^)#]+)/g)].map(m => m[1])
    assert.ok(links.length > 0, 'the README links to docs/')
    for (const link of links) assert.ok(paths.includes(link ?? ''), `${link} is linked from the README but not in the tarball`)
    for (const asset of ['assets/dashboard.html', 'docs/openapi.json'])
      assert.ok(paths.includes(asset), `${asset} ships (the dashboard and the API description)`)
  })

  it('type-checks every README example against the installed package and Baileys', async () => {
    examples.forEach((code, i) => writeFileSync(join(project, `example${i}.ts`), `${code}\nexport {}\n`))
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: true, types: ['node'] },
        include: ['example*.ts']
      })
    )
    const tsc = await run(process.execPath, [join(project, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project], { cwd: project }).catch(err => err)
    assert.equal(tsc.code ?? 0, 0, `README examples do not compile in a new project:\n${tsc.stdout}`)
  })

  it('runs the quick start on sqlite: and shows the QR code', async () => {
    await assertQuickStartShowsQr({
      project,
      baileysPackage: '@whiskeysockets/baileys',
      start: (nodeArgs, extraEnv) => runExample(`example${quickStart}.js`, nodeArgs, extraEnv)
    })
    assert.ok(existsSync(join(project, 'baileys.db')), 'the quick start created its SQLite store')
    const ls = await run('npx', ['--no-install', 'baileys-vault', 'ls', 'sqlite:./baileys.db', '--json'], { cwd: project, env })
    assert.ok(ls.stdout.length > 0)
  })

  it('runs the simulator example until the bot answers pong, and the process exits by itself', async t => {
    const child = runExample(`example${simExample}.js`)
    await child.waitFor(/^pong$/m)
    const answered = Date.now()
    assert.equal(await child.exited, 0, child.output())
    // Measured, not asserted: Baileys 7.0.0-rc14 keeps a fresh device's process alive until 30 s
    // after its first login (the pre-key upload's timeout is never cleared, socket.js).
    t.diagnostic(`exited ${Date.now() - answered} ms after the answer`)
  })

  it('runs `npx baileys-vault --help`', async () => {
    const { stdout } = await run('npx', ['--no-install', 'baileys-vault', '--help'], { cwd: project, env })
    assert.match(stdout, /Usage: baileys-vault/)
    assert.match(stdout, /migrate/)
  })

  /** Runs a compiled example in the project; fails if it outlives `limitMs` (then it is killed). */
  function runExample(file: string, nodeArgs: string[] = [], extra: NodeJS.ProcessEnv = {}, limitMs = 90_000) {
    return spawnInProject({ project, env: { ...env, ...extra }, command: process.execPath, args: [...nodeArgs, file], label: file, limitMs })
  }
})
