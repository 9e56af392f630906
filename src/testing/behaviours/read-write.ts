import assert from 'node:assert/strict'
import type { SuiteContext } from '../harness.js'
import { bytes, collect } from '../util.js'

/** Reads and writes: batches, overwrite, delete, creds apart from keys, persistence. */
export function readAndWrite(ctx: SuiteContext): void {
  const { it } = ctx.runner

  it('an unknown session has no creds, no keys and is not listed', async () => {
    const d = ctx.driver()
    const h = ctx.harness()
    const s = ctx.sid('empty')
    assert.equal(await d.getCreds(s), undefined)
    assert.equal((await d.get(s, 'pre-key', ['1', '2'])).size, 0)
    assert.deepEqual(await collect(d.list(s)), [])
    assert.ok(!(await collect(d.sessions())).includes(s))
    assert.equal(await h.raw.creds(s), undefined)
  })

  it('writes creds and keys in one batch and the backend holds exactly those bytes', async () => {
    const d = ctx.driver()
    const h = ctx.harness()
    const s = ctx.sid('batch')
    const value = Buffer.from([0, 1, 2, 250, 255, 10, 13])
    await d.write(s, {
      creds: bytes('{"creds":1}'),
      set: [
        ['pre-key', '1', value],
        ['session', '15550000001.0', bytes('{"s":1}')]
      ],
      del: []
    })
    assert.deepEqual(Buffer.from((await h.raw.creds(s))!), bytes('{"creds":1}'))
    assert.deepEqual(Buffer.from((await h.raw.key(s, 'pre-key', '1'))!), value)
    assert.deepEqual(Buffer.from((await d.getCreds(s))!), bytes('{"creds":1}'))
    const got = await d.get(s, 'pre-key', ['1'])
    assert.deepEqual(Buffer.from(got.get('1')!), value)
    assert.equal(await h.raw.countKeys(s), 2)
    assert.ok((await collect(d.sessions())).includes(s))
  })

  it('gets many ids at once; missing ids are absent', async () => {
    const d = ctx.driver()
    const s = ctx.sid('many')
    const set: Array<[string, string, Uint8Array]> = []
    for (let i = 0; i < 50; i++) set.push(['pre-key', String(i), bytes(`v${i}`)])
    await d.write(s, { set, del: [] })
    const ids = ['3', '49', 'nope', '0', '50']
    const got = await d.get(s, 'pre-key', ids)
    assert.deepEqual([...got.keys()].sort(), ['0', '3', '49'])
    assert.equal(Buffer.from(got.get('49')!).toString(), 'v49')
    assert.equal((await d.get(s, 'session', ['3'])).size, 0, 'types are separate namespaces')
    assert.equal((await d.get(s, 'pre-key', [])).size, 0)
  })

  it('overwrites and deletes; a deleted key is gone from the backend', async () => {
    const d = ctx.driver()
    const h = ctx.harness()
    const s = ctx.sid('del')
    await d.write(s, {
      set: [
        ['session', 'a', bytes('1')],
        ['session', 'b', bytes('2')]
      ],
      del: []
    })
    await d.write(s, {
      set: [['session', 'a', bytes('3')]],
      del: [
        ['session', 'b'],
        ['session', 'never-existed']
      ]
    })
    assert.equal(Buffer.from((await h.raw.key(s, 'session', 'a'))!).toString(), '3')
    assert.equal(await h.raw.key(s, 'session', 'b'), undefined)
    assert.deepEqual([...(await d.get(s, 'session', ['a', 'b'])).keys()], ['a'])
    assert.equal(await h.raw.countKeys(s), 1)
  })

  it('creds can be replaced without touching keys, and keys written without creds', async () => {
    const d = ctx.driver()
    const h = ctx.harness()
    const s = ctx.sid('creds')
    await d.write(s, { set: [['pre-key', '1', bytes('k')]], del: [] })
    assert.equal(await d.getCreds(s), undefined)
    assert.ok((await collect(d.sessions())).includes(s), 'a session with only keys is listed')
    await d.write(s, { creds: bytes('c1'), set: [], del: [] })
    await d.write(s, { creds: bytes('c2'), set: [], del: [] })
    assert.equal(Buffer.from((await d.getCreds(s))!).toString(), 'c2')
    assert.equal(await h.raw.countKeys(s), 1)
  })

  it('a reopened driver sees everything written before close', async () => {
    const s = ctx.sid('reopen')
    await ctx.driver().write(s, { creds: bytes('persisted'), set: [['session', 'x', bytes('y')]], del: [] })
    const d = await ctx.reopen()
    assert.equal(Buffer.from((await d.getCreds(s))!).toString(), 'persisted')
    assert.equal(Buffer.from((await d.get(s, 'session', ['x'])).get('x')!).toString(), 'y')
  })
}
