import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { initAuthCreds } from '@whiskeysockets/baileys'
import { isVaultError } from '../../src/core/errors.js'
import { openStore } from '../../src/open-store.js'
import { migrate } from '../../src/tools/migrate.js'
import { runUntilOutput } from '../helpers/kill-on-output.js'

/**
 * A migrate into SQLite writes a new session in place, hidden until its last write (the creds)
 * removes the mark (src/tools/staging.ts). A SIGKILL at every point of its writes must leave
 * either no target session or the complete one; the control shows the check notices a copy
 * written in place without the mark.
 */
const dir = mkdtempSync(join(tmpdir(), 'vault-kill-points-'))
after(() => rmSync(dir, { recursive: true, force: true }))
const CHILD = new URL('../helpers/kill-point-child.js', import.meta.url).pathname
const KEYS = 2500 // batches of 1000: writes 1-3 are keys, write 4 the creds
const WRITES = 4
let n = 0
const sqliteUrl = () => `sqlite:${join(dir, `t${++n}.db`)}`
let source: string

before(async () => {
  source = sqliteUrl()
  const store = await openStore(source)
  const keys: Array<[string, string, unknown]> = []
  for (let i = 1; i <= KEYS; i++) keys.push(['pre-key', String(i), { public: Buffer.alloc(33, i % 256), private: Buffer.alloc(32, (i + 7) % 256) }])
  await store.write('alice', { creds: initAuthCreds(), set: keys })
  await store.close()
})

/** Runs the child to its pause point and SIGKILLs it there. */
async function killAt(to: string, when: 'before' | 'after', at: number, unmarked = false): Promise<void> {
  const child = await runUntilOutput({
    args: [CHILD, source, to, 'alice', when, String(at), ...(unmarked ? ['unmarked'] : [])],
    marker: `paused ${when} ${at}`,
    what: 'pausing'
  })
  await child.kill()
}

/** What a bot and the tools see of 'alice' now: nothing, the whole session, or (a failure) a half-made one. */
async function targetState(url: string): Promise<'none' | 'complete' | string> {
  const store = await openStore(url)
  try {
    const sessions: string[] = []
    for await (const s of store.sessions()) sessions.push(s)
    let keys = 0
    for await (const _ of store.listKeys('alice')) keys++
    const creds = await store.hasCreds('alice')
    if (sessions.length === 0 && !creds) {
      // Not listed: a bot must refuse the leftover keys (keys without creds), or find nothing at all.
      if (keys > 0) await assert.rejects(store.useAuthState('alice'), err => isVaultError(err, 'CORRUPT_DATA'))
      return 'none'
    }
    if (sessions.join() === 'alice' && creds && keys === KEYS && (await store.hiddenCopies()[Symbol.asyncIterator]().next()).done) return 'complete'
    return `half-made: listed ${JSON.stringify(sessions)}, creds ${creds}, ${keys} keys`
  } finally {
    await store.close()
  }
}

describe('migrate into SQLite killed at each point of its writes', () => {
  for (const [when, at] of [...Array.from({ length: WRITES }, (_, i) => ['before', i + 1] as const), ['after', WRITES] as const]) {
    it(`SIGKILL ${when} write ${at} of ${WRITES}: no target session or the complete one; a rerun completes it`, async () => {
      const url = sqliteUrl()
      await killAt(url, when, at)
      const state = await targetState(url)
      assert.equal(state, when === 'after' && at === WRITES ? 'complete' : 'none')
      if (state === 'complete') return
      // The next migrate (no --overwrite) removes the unfinished copy and makes the session whole.
      await new Promise(resolve => setTimeout(resolve, 600)) // the killed run's lease (500 ms) expires
      const [from, to] = [await openStore(source), await openStore(url)]
      try {
        const r = await migrate(from, to, { sessions: ['alice'], force: true })
        assert.ok(r.ok)
      } finally {
        await from.close()
        await to.close()
      }
      assert.equal(await targetState(url), 'complete')
    })
  }

  it('control: the same copy written in place without the mark is caught half-made', async () => {
    const url = sqliteUrl()
    await killAt(url, 'before', WRITES, true)
    assert.match(await targetState(url), /^half-made: listed \["alice"\], creds false, 2500 keys/)
  })

  it('the child runs to its end when not stopped: the writes counted are the keys batches and the creds', async () => {
    const child = spawn(process.execPath, [CHILD, source, sqliteUrl(), 'alice', 'before', '99'], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', d => (out += d))
    await new Promise(resolve => child.on('exit', resolve))
    assert.match(out, new RegExp(`finished after ${WRITES} writes`))
  })
})
