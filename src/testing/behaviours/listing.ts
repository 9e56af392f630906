import assert from 'node:assert/strict'
import type { SuiteContext } from '../harness.js'
import { bytes, collect } from '../util.js'

/** Listing: stable order, by type, with values, past one page. */
export function listing(ctx: SuiteContext): void {
  const { it } = ctx.runner

  it('lists every key in a stable order, by type, with values when asked, past one page', async () => {
    const d = ctx.driver()
    const s = ctx.sid('list')
    const set: Array<[string, string, Uint8Array]> = []
    for (let i = 0; i < 1234; i++) set.push(['pre-key', String(i), bytes(`p${i}`)])
    set.push(['session', 'z', bytes('sz')], ['app-state-sync-key', 'AAAA', bytes('ak')])
    await d.write(s, { set, del: [] })
    const all = await collect(d.list(s))
    assert.equal(all.length, 1236)
    assert.equal(new Set(all.map(([t, id]) => `${t}/${id}`)).size, 1236, 'no duplicates across pages')
    const again = await collect(d.list(s))
    assert.deepEqual(again, all, 'order is stable')
    const preKeys = await collect(d.list(s, 'pre-key', { values: true }))
    assert.equal(preKeys.length, 1234)
    for (const [t, id, v] of preKeys) {
      assert.equal(t, 'pre-key')
      assert.equal(Buffer.from(v!).toString(), `p${id}`)
    }
    assert.deepEqual(await collect(d.list(s, 'session')), [['session', 'z']])
  })
}
