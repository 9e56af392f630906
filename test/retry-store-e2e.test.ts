/**
 * Issue 21 end to end with real processes: a contact's retry receipt after a SIGKILL, a handoff
 * (SIGTERM with a standby) or a takeover (SIGKILL with a standby) gets the same message again
 * (same id, same text), served from the retry store by the new process. The control,
 * --no-message-store, shows the test can fail: the contact then gets nothing for its retry.
 * SQLite runs every scenario; the server stores and file: run the SIGKILL one (the CI budget).
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { freshPostgres, freshRedis } from './helpers/servers.js'
import { retryRun, SECRET_WORD, type Ending } from './helpers/retry-run.js'
import { spawnCli, startSimChild, type SimChild } from './helpers/run-child.js'

const temps: string[] = []
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'vault-retry-store-'))
  temps.push(dir)
  return dir
}

describe('retry store: a contact asking again after the bot process ended gets the same message', () => {
  let sim: SimChild
  const cleanups: Array<() => Promise<void>> = []
  before(async () => {
    sim = await startSimChild()
  })
  after(async () => {
    await sim?.stop()
    for (const c of cleanups) await c()
    for (const d of temps) rmSync(d, { recursive: true, force: true })
  })

  const served = async (url: string, ending: Ending) => {
    const run = await retryRun(sim, url, { ending })
    assert.deepEqual(run.resent, run.original, `the same id and text again; got ${JSON.stringify(run.after.map(m => m.id))}`)
    assert.ok(!run.output.includes(SECRET_WORD), 'no message text in the output of run')
    return run
  }

  for (const ending of ['sigkill', 'handoff', 'takeover'] as const) {
    it(`sqlite: ${ending}`, { timeout: 240_000 }, async () => {
      const url = `sqlite:${join(tempDir(), 'bot.db')}`
      await served(url, ending)
      // inspect and doctor show the count and ages, never the text.
      for (const command of ['inspect', 'doctor']) {
        const tool = spawnCli([command, url, '--session', 'bot', '--json'])
        await tool.exited(60_000)
        assert.ok(!(tool.stdout() + tool.stderr()).includes(SECRET_WORD), `${command} shows no message text`)
        if (command === 'inspect') assert.ok(JSON.parse(tool.stdout()).retryStore.messages >= 1, 'inspect counts the kept messages')
      }
    })
  }

  it('control: with --no-message-store the retry after a SIGKILL gets nothing', { timeout: 240_000 }, async () => {
    const run = await retryRun(sim, `sqlite:${join(tempDir(), 'bot.db')}`, { ending: 'sigkill', flags: ['--no-message-store'] })
    assert.equal(run.resent, undefined, 'nothing was resent')
    assert.deepEqual(
      run.after.map(m => m.text),
      ['echo: ping', 'echo: ping']
    )
  })

  it('file: sigkill', { timeout: 240_000 }, async () => {
    await served(`file:${tempDir()}`, 'sigkill')
  })

  it('postgres: sigkill', { timeout: 240_000 }, async () => {
    const db = await freshPostgres('retry')
    cleanups.push(db.cleanup)
    await served(db.url, 'sigkill')
  })

  it('redis: sigkill', { timeout: 240_000 }, async () => {
    const r = await freshRedis('retry')
    cleanups.push(r.cleanup)
    await served(r.url, 'sigkill')
  })
})
