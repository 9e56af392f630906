import assert from 'node:assert/strict'
import type { SuiteContext } from '../harness.js'
import { bytes, collect } from '../util.js'

/** Sessions kept apart, dropped whole, written concurrently. */
export function sessionsApart(ctx: SuiteContext): void {
  const { it } = ctx.runner

  it('keeps sessions apart; dropping one leaves the others whole', async () => {
    const d = ctx.driver()
    const h = ctx.harness()
    const a = ctx.sid('a')
    const b = ctx.sid('b')
    await d.write(a, { creds: bytes('ca'), set: [['pre-key', '1', bytes('a1')]], del: [] })
    await d.write(b, { creds: bytes('cb'), set: [['pre-key', '1', bytes('b1')]], del: [] })
    assert.equal(Buffer.from((await d.get(a, 'pre-key', ['1'])).get('1')!).toString(), 'a1')
    assert.equal(Buffer.from((await d.get(b, 'pre-key', ['1'])).get('1')!).toString(), 'b1')
    await d.drop(a)
    assert.equal(await d.getCreds(a), undefined)
    assert.equal(await h.raw.creds(a), undefined)
    assert.equal(await h.raw.countKeys(a), 0)
    assert.equal(Buffer.from((await h.raw.creds(b))!).toString(), 'cb')
    assert.equal(await h.raw.countKeys(b), 1)
    const sessions = await collect(d.sessions())
    assert.ok(!sessions.includes(a) && sessions.includes(b))
  })

  it('lands concurrent writes to different sessions and keys', async () => {
    const d = ctx.driver()
    const h = ctx.harness()
    const sessions = Array.from({ length: 8 }, (_, i) => ctx.sid(`c${i}`))
    await Promise.all(sessions.flatMap(s => Array.from({ length: 10 }, (_, k) => d.write(s, { set: [['pre-key', String(k), bytes(`${s}:${k}`)]], del: [] }))))
    for (const s of sessions) {
      assert.equal(await h.raw.countKeys(s), 10)
      assert.equal(Buffer.from((await d.get(s, 'pre-key', ['7'])).get('7')!).toString(), `${s}:7`)
    }
  })
}
