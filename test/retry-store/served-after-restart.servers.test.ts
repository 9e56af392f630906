/**
 * Issue 21 end to end with real processes: a contact's retry receipt after a SIGKILL, a handoff
 * (SIGTERM with a standby) or a takeover (SIGKILL with a standby) gets the same message again
 * (same id, same text), served from the retry store by the new process. The control,
 * --no-message-store, shows the test can fail: the contact then gets nothing for its retry.
 * SQLite runs every scenario (one linked device through handoff, takeover and SIGKILL in turn);
 * the server stores and file: run the SIGKILL one (the CI budget). The chains run at once on one
 * simulator, each with a contact of its own.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it, type TestContext } from 'node:test'
import { freshPostgres, freshRedis } from '../helpers/servers.js'
import { retryRun, SECRET_WORD, type Ending } from '../helpers/retry-run.js'
import { spawnCli, startSimChild, type SimChild } from '../helpers/run-child.js'

const temps: string[] = []
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'vault-retry-store-'))
  temps.push(dir)
  return dir
}

describe('retry store: a contact asking again after the bot process ended gets the same message', { concurrency: true }, () => {
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

  /** Each chain talks through a contact of its own, so the chains share the simulator at once. */
  const served = async (t: TestContext, url: string, endings: Ending[], contact: string) => {
    const run = await retryRun(sim, url, { endings, contact })
    for (const step of run.steps) {
      t.diagnostic(`${step.ending}: ${step.ms} ms`)
      assert.deepEqual(step.resent, step.original, `${step.ending}: the same id and text again; got ${JSON.stringify(step.after.map(m => m.id))}`)
    }
    assert.ok(!run.output.includes(SECRET_WORD), 'no message text in the output of run')
  }

  it('sqlite: handoff, then takeover, then sigkill (one linked device through the three endings)', { timeout: 240_000 }, async t => {
    const url = `sqlite:${join(tempDir(), 'bot.db')}`
    await served(t, url, ['handoff', 'takeover', 'sigkill'], '15550006061')
    // inspect and doctor show the count and ages, never the text.
    for (const command of ['inspect', 'doctor']) {
      const tool = spawnCli([command, url, '--session', 'bot', '--json'])
      await tool.exited(60_000)
      assert.ok(!(tool.stdout() + tool.stderr()).includes(SECRET_WORD), `${command} shows no message text`)
      if (command === 'inspect') assert.ok(JSON.parse(tool.stdout()).retryStore.messages >= 3, 'inspect counts the kept messages')
    }
  })

  it('control: with --no-message-store the retry after a SIGKILL gets nothing', { timeout: 240_000 }, async () => {
    const run = await retryRun(sim, `sqlite:${join(tempDir(), 'bot.db')}`, { endings: ['sigkill'], contact: '15550006062', flags: ['--no-message-store'] })
    const [step] = run.steps
    assert.equal(step?.resent, undefined, 'nothing was resent')
    assert.deepEqual(
      step?.after.map(m => m.text),
      ['echo: ping', 'echo: ping']
    )
  })

  it('file: sigkill', { timeout: 240_000 }, async t => {
    await served(t, `file:${tempDir()}`, ['sigkill'], '15550006063')
  })

  it('postgres: sigkill', { timeout: 240_000 }, async t => {
    const db = await freshPostgres('retry')
    cleanups.push(db.cleanup)
    await served(t, db.url, ['sigkill'], '15550006064')
  })

  it('redis: sigkill', { timeout: 240_000 }, async t => {
    const r = await freshRedis('retry')
    cleanups.push(r.cleanup)
    await served(t, r.url, ['sigkill'], '15550006065')
  })
})
