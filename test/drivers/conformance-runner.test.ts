import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createMemoryDriver } from '../../src/drivers/memory.js'
import { driverConformance, type TestRunner } from '../../src/testing/index.js'

// A runner of the driver author's choosing: here node:test's functions behind a recorder, so
// the test proves the suite registers through the runner it is given and nothing else.
const registered: string[] = []
const hooks = { before: 0, after: 0 }
const recording: TestRunner = {
  describe: (name, fn) => describe(name, fn),
  it: (name, fn) => {
    registered.push(name)
    return it(name, fn)
  },
  before: fn => {
    hooks.before++
    return before(fn)
  },
  after: fn => {
    hooks.after++
    return after(fn)
  }
}

const name = `runner-${process.pid}`
driverConformance(
  'memory through a custom runner',
  async () => ({
    open: async () => createMemoryDriver({ name }),
    openReadOnly: async () => createMemoryDriver({ name, readOnly: true }),
    snapshot: false,
    raw: {
      creds: s => createMemoryDriver({ name }).getCreds(s),
      key: async (s, t, id) => (await createMemoryDriver({ name }).get(s, t, [id])).get(id),
      countKeys: async s => {
        let n = 0
        for await (const _ of createMemoryDriver({ name }).list(s)) n++
        return n
      }
    }
  }),
  recording
)

describe('the conformance suite with a runner passed in', () => {
  it('registered every behaviour through that runner', () => {
    for (const title of ['commitsOnCall', 'rename', 'read-only driver', 'acquire is exclusive', 'path separators'])
      assert.ok(
        registered.some(t => t.includes(title)),
        `${title} registered`
      )
    assert.ok(registered.length >= 20, `${registered.length} tests`)
    assert.equal(hooks.before, 2, 'the suite and its lease group each set up once')
    assert.equal(hooks.after, 1)
  })
})
