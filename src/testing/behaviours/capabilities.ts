import assert from 'node:assert/strict'
import type { SuiteContext } from '../harness.js'
import { bytes, collect, text } from '../util.js'

/** Optional capabilities, each declared truthfully: snapshot, commitsOnCall, rename. */
export function capabilities(ctx: SuiteContext): void {
  const { it } = ctx.runner

  it('declares its snapshot capability truthfully; a snapshot sees one point in time', async () => {
    const d = ctx.driver()
    const h = ctx.harness()
    assert.equal(!!d.capabilities.snapshot && typeof d.snapshot === 'function', h.snapshot)
    if (!d.snapshot || !h.snapshot) return
    const s = ctx.sid('snap')
    await d.write(s, { set: [['pre-key', '1', bytes('before')]], del: [] })
    const seen = await d.snapshot(async reader => {
      await d.write(s, {
        set: [
          ['pre-key', '1', bytes('after')],
          ['pre-key', '2', bytes('new')]
        ],
        del: []
      })
      const got = await reader.get(s, 'pre-key', ['1', '2'])
      return [...got].map(([id, v]) => `${id}=${Buffer.from(v).toString()}`)
    })
    assert.deepEqual(seen, ['1=before'])
    assert.equal(Buffer.from((await d.get(s, 'pre-key', ['1'])).get('1')!).toString(), 'after')
  })

  it('commitsOnCall, when declared, is true: a write is visible to a read issued before the write settles', async () => {
    const d = ctx.driver()
    if (!d.capabilities.commitsOnCall) return
    const s = ctx.sid('on-call')
    await d.write(s, { set: [['session', 'a', bytes('1')]], del: [] })
    // No await between the calls: the auth state relies on exactly this ordering.
    const writing = d.write(s, { creds: bytes('c2'), set: [['session', 'a', bytes('2')]], del: [['session', 'gone']] })
    const reading = d.get(s, 'session', ['a'])
    const creds = d.getCreds(s)
    assert.equal(text((await reading).get('a')), '2')
    assert.equal(text(await creds), 'c2')
    await writing
  })

  it('rename, when declared, moves creds and keys whole and never replaces a session that has data', async () => {
    const d = ctx.driver()
    const h = ctx.harness()
    assert.equal(!!d.capabilities.rename, typeof d.rename === 'function', 'capabilities.rename matches the method')
    if (!d.rename) return
    const from = ctx.sid('rename-from')
    const to = ctx.sid('rename-to')
    const taken = ctx.sid('rename-taken')
    if (d.canRename && (!d.canRename(from, to) || !d.canRename(from, taken))) return
    await d.write(from, {
      creds: bytes('cf'),
      set: [
        ['pre-key', '1', bytes('p1')],
        ['session', 'x', bytes('sx')]
      ],
      del: []
    })
    await d.write(taken, { set: [['pre-key', '9', bytes('other')]], del: [] })
    await assert.rejects(d.rename(from, taken), 'a session with data is never replaced')
    assert.equal(text(await h.raw.key(taken, 'pre-key', '9')), 'other')
    assert.equal(await h.raw.countKeys(taken), 1)
    assert.equal(text(await h.raw.creds(from)), 'cf', 'the refused rename left the source whole')
    await d.rename(from, to)
    assert.equal(text(await h.raw.creds(to)), 'cf')
    assert.equal(text(await h.raw.key(to, 'session', 'x')), 'sx')
    assert.equal(await h.raw.countKeys(to), 2)
    assert.equal(await h.raw.creds(from), undefined)
    assert.equal(await h.raw.countKeys(from), 0)
    const sessions = await collect(d.sessions())
    assert.ok(sessions.includes(to) && !sessions.includes(from))
  })
}
