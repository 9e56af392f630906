import assert from 'node:assert/strict'
import type { SuiteContext } from '../harness.js'
import { bytes, collect, TRICKY_IDS } from '../util.js'

/** Ids and values kept exact: tricky ids, every byte, large values. */
export function idsAndValues(ctx: SuiteContext): void {
  const { it } = ctx.runner

  it('keeps ids with path separators, traversal, punctuation and unicode exact and separate', async () => {
    const d = ctx.driver()
    const h = ctx.harness()
    const s = ctx.sid('ids')
    await d.write(s, { set: TRICKY_IDS.map((id, i) => ['session', id, bytes(`v${i}`)] as [string, string, Uint8Array]), del: [] })
    const got = await d.get(s, 'session', TRICKY_IDS)
    assert.equal(got.size, TRICKY_IDS.length)
    TRICKY_IDS.forEach((id, i) => assert.equal(Buffer.from(got.get(id)!).toString(), `v${i}`, id))
    for (const [i, id] of TRICKY_IDS.entries()) assert.equal(Buffer.from((await h.raw.key(s, 'session', id))!).toString(), `v${i}`)
    const listed = (await collect(d.list(s, 'session'))).map(([, id]) => id)
    assert.deepEqual([...listed].sort(), [...TRICKY_IDS].sort())
  })

  it('stores binary values of every byte and of large size unchanged', async () => {
    const d = ctx.driver()
    const s = ctx.sid('bin')
    const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
    const large = Buffer.alloc(1024 * 1024)
    for (let i = 0; i < large.length; i++) large[i] = (i * 7919) & 0xff
    await d.write(s, {
      set: [
        ['sender-key', 'every', every],
        ['sender-key', 'large', large],
        ['sender-key', 'one', Buffer.from([0])]
      ],
      del: []
    })
    const got = await d.get(s, 'sender-key', ['every', 'large', 'one'])
    assert.deepEqual(Buffer.from(got.get('every')!), every)
    assert.deepEqual(Buffer.from(got.get('large')!), large)
    assert.deepEqual(Buffer.from(got.get('one')!), Buffer.from([0]))
  })
}
