import assert from 'node:assert/strict'
import { isVaultError } from '../../core/errors.js'
import type { SuiteContext } from '../harness.js'
import { bytes, collect, text } from '../util.js'

/** A read-only open (`readOnly: true`) reads everything and changes nothing. */
export function readOnly(ctx: SuiteContext): void {
  const { it } = ctx.runner

  it('a read-only driver reads what was written and refuses every change, leaving the backend as it was', async () => {
    const h = ctx.harness()
    if (!h.openReadOnly) return
    const s = ctx.sid('read-only')
    await ctx.driver().write(s, { creds: bytes('c'), set: [['pre-key', '1', bytes('p1')]], del: [] })
    const ro = await h.openReadOnly()
    try {
      assert.equal(text(await ro.getCreds(s)), 'c')
      assert.equal(text((await ro.get(s, 'pre-key', ['1'])).get('1')), 'p1')
      assert.deepEqual(await collect(ro.list(s)), [['pre-key', '1']])
      assert.ok((await collect(ro.sessions())).includes(s))
      const refused = (err: unknown) => isVaultError(err) && /read-only|readOnly/.test((err as Error).message)
      await assert.rejects(ro.write(s, { creds: bytes('x'), set: [['pre-key', '2', bytes('p2')]], del: [['pre-key', '1']] }), refused)
      await assert.rejects(ro.write(ctx.sid('read-only-new'), { set: [['pre-key', '1', bytes('n')]], del: [] }), refused)
      await assert.rejects(ro.drop(s), refused)
      if (ro.rename) await assert.rejects(ro.rename(s, ctx.sid('read-only-to')), refused)
    } finally {
      await ro.close()
    }
    assert.equal(text(await h.raw.creds(s)), 'c')
    assert.equal(text(await h.raw.key(s, 'pre-key', '1')), 'p1')
    assert.equal(await h.raw.countKeys(s), 1)
  })
}
