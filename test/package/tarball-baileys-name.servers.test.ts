import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { startSimulator } from '../../src/sim/index.js'
import { assertQuickStartShowsQr, envWithoutNpm, spawnInProject } from '../helpers/packed-project.js'

const ROOT = fileURLToPath(new URL('../../..', import.meta.url))
const run = promisify(execFile)

/**
 * The tarball installed next to Baileys under its other name, `baileys@7.0.0-rc14`, alone (no
 * `@whiskeysockets/baileys`): the README quick start (its import written for that name), `demo`
 * and `run` work, and the project holds one copy of Baileys. Install scripts are skipped and
 * better-sqlite3's binary is copied from this repository (test/package/tarball.servers.test.ts already proves
 * the native build from source; doing it twice would cost minutes).
 */
describe('the packed tarball with Baileys installed as `baileys`', () => {
  const work = mkdtempSync(join(tmpdir(), 'baileys-vault-name-'))
  const project = join(work, 'project')
  const env = envWithoutNpm()
  const npm = (args: string[], cwd: string) => run('npm', args, { cwd, env, maxBuffer: 64 * 1024 * 1024 })
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const quickStart = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map(m => m[1] ?? '').find(code => code.includes("openStore('sqlite:"))!

  before(
    async () => {
      const { stdout } = await npm(['pack', '--json', '--pack-destination', work], ROOT)
      const [pack = assert.fail('npm pack made a tarball')] = JSON.parse(stdout) as Array<{ filename: string }>
      mkdirSync(project)
      writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'a-bot-on-baileys', private: true, type: 'module' }))
      await npm(
        ['install', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', join(work, pack.filename), 'baileys@7.0.0-rc14', 'qrcode@1.5.4'],
        project
      )
      const version = (dir: string) => JSON.parse(readFileSync(join(dir, 'node_modules', 'better-sqlite3', 'package.json'), 'utf8')).version
      assert.equal(version(project), version(ROOT), 'the installed better-sqlite3 is the version whose binary is copied')
      cpSync(join(ROOT, 'node_modules', 'better-sqlite3', 'build'), join(project, 'node_modules', 'better-sqlite3', 'build'), { recursive: true })
    },
    { timeout: 10 * 60_000 }
  )

  after(() => rmSync(work, { recursive: true, force: true }))

  it('npm ls shows one copy of Baileys, named `baileys`', async () => {
    const { stdout } = await npm(['ls', '--all', '--parseable', '--long'], project).catch(err => err)
    const copies = String(stdout)
      .split('\n')
      .filter(line => /node_modules\/(@whiskeysockets\/)?baileys:/.test(line))
    assert.equal(copies.length, 1, copies.join('\n'))
    assert.match(copies[0] ?? '', /node_modules\/baileys:baileys@7\.0\.0-rc14/)
  })

  it('runs the README quick start (importing `baileys`) against the simulator and shows the QR code', async () => {
    writeFileSync(join(project, 'quick-start.mjs'), quickStart.replaceAll("'@whiskeysockets/baileys'", "'baileys'"))
    await assertQuickStartShowsQr({
      project,
      baileysPackage: 'baileys',
      start: (nodeArgs, extraEnv) => spawnIn(process.execPath, [...nodeArgs, 'quick-start.mjs'], extraEnv)
    })
    assert.ok(existsSync(join(project, 'baileys.db')))
  })

  it('runs `npx baileys-vault demo`', async () => {
    const child = spawnIn('npx', ['--no-install', 'baileys-vault', 'demo', '--json'])
    assert.equal(await child.exited, 0, child.output())
    assert.match(child.output(), /"event":"done","ok":true/)
  })

  it('runs `baileys-vault run`: linked by the simulated phone, then a graceful stop', async () => {
    const sim = await startSimulator()
    try {
      // The bin npx runs, started directly so the SIGTERM reaches it (not npm in between).
      const child = spawnIn(process.execPath, [
        join(project, 'node_modules', 'baileys-vault', 'dist', 'cli', 'bin.js'),
        'run',
        'sqlite:./run.db',
        '--session',
        'bot',
        '--json',
        '--server',
        sim.url,
        '--trust-root-key',
        sim.rootPublicKey.toString('hex')
      ])
      const line = await child.waitFor(/^\{[^\n]*"event":"qr"[^\n]*\}$/m)
      await sim.phone.scan(JSON.parse(line[0]).qr)
      await child.waitFor(/"state":"connected"/)
      child.kill('SIGTERM')
      assert.equal(await child.exited, 0, child.output())
    } finally {
      await sim.stop()
    }
  })

  it('without either package: a clear error naming both names', async () => {
    renameSync(join(project, 'node_modules', 'baileys'), join(project, 'node_modules', 'baileys-away'))
    try {
      const result = await run(process.execPath, ['-e', "import('baileys-vault').then(() => console.log('loaded'))"], { cwd: project, env }).catch(err => err)
      assert.notEqual(result.code ?? 0, 0)
      assert.match(String(result.stderr), /@whiskeysockets\/baileys/)
      assert.match(String(result.stderr), /npm install baileys/)
    } finally {
      renameSync(join(project, 'node_modules', 'baileys-away'), join(project, 'node_modules', 'baileys'))
    }
  })

  /** A child in the project; killed if it outlives a minute and a half. */
  function spawnIn(command: string, args: string[], extra: NodeJS.ProcessEnv = {}) {
    return spawnInProject({ project, env: { ...env, ...extra }, command, args, label: command })
  }
})
