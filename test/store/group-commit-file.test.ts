import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { isVaultError } from '../../src/core/errors.js'
import { createFileDriver } from '../../src/drivers/file.js'
import { openStore } from '../../src/open-store.js'
import { crashSuite } from '../helpers/crash-suite.js'

const temps: string[] = []
after(() => {
  for (const dir of temps) {
    setWritable(dir, true)
    rmSync(dir, { recursive: true, force: true })
  }
})
const tempRoot = (label: string) => {
  const dir = mkdtempSync(join(tmpdir(), `vault-filegc-${label}-`))
  temps.push(dir)
  return join(dir, 'auth')
}
const text = (s: string) => Buffer.from(s, 'utf8')
/** How a value's bytes appear in its file (BufferJSON). */
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64')

/**
 * Makes a folder refuse new files, for real. File modes do not bind root, so as root the
 * folder is made immutable (chattr +i: even root cannot create a file in it).
 */
function setWritable(dir: string, writable: boolean): void {
  if (process.getuid?.() === 0) {
    const r = spawnSync('chattr', [writable ? '-i' : '+i', dir])
    if (writable) return // cleanup of a folder that may not be immutable
    assert.equal(r.status, 0, `chattr is needed to make a folder read-only as root: ${r.stderr}`)
  } else chmodSync(dir, writable ? 0o700 : 0o500)
}

const SESSIONS = ['s1', 's2', 's3', 's4']

describe('file: group commit', () => {
  for (const groupCommit of [true, false])
    it(`a fenced-out batch fails alone; the other batches of its group commit (groupCommit: ${groupCommit})`, async () => {
      const root = tempRoot('fence')
      const d = await createFileDriver({ path: root, groupCommit })
      const epochs = new Map<string, number>()
      for (const s of SESSIONS) epochs.set(s, (await d.lease!.acquire(s, { owner: 'me', ttlMs: 60_000 })).epoch)
      // s2's lease moves to another owner: my epoch for it is stale.
      await d.lease!.release('s2', { owner: 'me', epoch: epochs.get('s2')! })
      await d.lease!.acquire('s2', { owner: 'other', ttlMs: 60_000 })
      // Written in one event-loop turn: one group.
      const results = await Promise.allSettled(
        SESSIONS.map(s =>
          d.write(s, {
            creds: text(`creds ${s}`),
            set: [
              ['pre-key', '1', text(`${s} 1`)],
              ['pre-key', '2', text(`${s} 2`)]
            ],
            del: [],
            epoch: epochs.get(s)
          })
        )
      )
      assert.deepEqual(
        results.map(r => r.status),
        ['fulfilled', 'rejected', 'fulfilled', 'fulfilled']
      )
      assert.ok(isVaultError((results[1] as PromiseRejectedResult).reason, 'LEASE_LOST'), String((results[1] as PromiseRejectedResult).reason))
      for (const s of SESSIONS) {
        const keys = await d.get(s, 'pre-key', ['1', '2'])
        if (s === 's2') {
          assert.equal(await d.getCreds(s), undefined, 'nothing of the fenced batch landed')
          assert.equal(keys.size, 0)
        } else {
          assert.equal(Buffer.from((await d.getCreds(s))!).toString(), `creds ${s}`)
          assert.deepEqual(
            [...keys.values()].map(v => Buffer.from(v).toString()),
            [`${s} 1`, `${s} 2`]
          )
        }
      }
      await d.close()
    })

  it('a group failing on read-only folders fails every write in it; caches agree with the disk; writes succeed once the fault clears', async () => {
    const root = tempRoot('readonly')
    const store = await openStore(`file:${root}`, { file: { groupCommit: true } })
    const states = await Promise.all(SESSIONS.map(s => store.useAuthState(s)))
    await Promise.all(states.map((a, i) => a.state.keys.set({ 'pre-key': { '1': { public: text(`old ${i}`), private: text(`old ${i}`) } } })))
    for (const s of SESSIONS) setWritable(join(root, s), false)
    let cleared = false
    try {
      const results = await Promise.allSettled(
        states.map((a, i) =>
          a.state.keys.set({
            'pre-key': { '1': { public: text(`new ${i}`), private: text(`new ${i}`) }, '2': { public: text(`new ${i}`), private: text(`new ${i}`) } }
          })
        )
      )
      for (const r of results) {
        assert.equal(r.status, 'rejected')
        assert.ok(isVaultError((r as PromiseRejectedResult).reason, 'BACKEND_UNAVAILABLE'), String((r as PromiseRejectedResult).reason))
      }
      // The auth states' caches and the disk (a second driver) both hold the previous values.
      const disk = await createFileDriver({ path: root, readOnly: true })
      for (const [i, a] of states.entries()) {
        const cached = await a.state.keys.get('pre-key', ['1', '2'])
        assert.equal(Buffer.from(cached['1']!.public).toString(), `old ${i}`)
        assert.equal(cached['2'], undefined)
        const session = SESSIONS[i]
        assert.ok(session)
        const onDisk = await disk.get(session, 'pre-key', ['1', '2'])
        assert.equal(onDisk.size, 1)
        assert.match(Buffer.from(onDisk.get('1')!).toString(), new RegExp(b64(`old ${i}`)))
      }
      await disk.close()
      for (const s of SESSIONS) setWritable(join(root, s), true)
      cleared = true
      await Promise.all(states.map((a, i) => a.state.keys.set({ 'pre-key': { '2': { public: text(`again ${i}`), private: text(`again ${i}`) } } })))
      for (const [i, a] of states.entries()) {
        const got = await a.state.keys.get('pre-key', ['1', '2'])
        assert.equal(Buffer.from(got['1']!.public).toString(), `old ${i}`)
        assert.equal(Buffer.from(got['2']!.public).toString(), `again ${i}`)
      }
    } finally {
      if (!cleared) for (const s of SESSIONS) setWritable(join(root, s), true)
    }
    await store.close()
    // Reopened from disk: the same values, and nothing left behind (temp files, logs).
    const reopened = await createFileDriver({ path: root })
    for (const [i, s] of SESSIONS.entries()) {
      const got = await reopened.get(s, 'pre-key', ['1', '2'])
      assert.match(Buffer.from(got.get('1')!).toString(), new RegExp(b64(`old ${i}`)))
      assert.match(Buffer.from(got.get('2')!).toString(), new RegExp(b64(`again ${i}`)))
      assert.deepEqual(
        readdirSync(join(root, s)).filter(n => n.startsWith('.vault-') && n !== '.vault-types'),
        [],
        s
      )
    }
    await reopened.close()
  })
})

// The gateway pattern: many conversations writing at once, so group commits are in flight when the SIGKILL lands.
crashSuite(
  'file, gateway pattern (group commits in flight)',
  async () => ({ url: `file:${tempRoot('crash')}`, options: { file: { groupCommit: true } }, cleanup: async () => undefined }),
  Number(process.env.VAULT_CRASH_KILLS ?? 10),
  { pairs: 6 }
)
