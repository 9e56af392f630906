import assert from 'node:assert/strict'
import { describe, it, mock } from 'node:test'
import type { Driver, WriteBatch } from '../../src/core/driver.js'
import { createMemoryDriver } from '../../src/drivers/memory.js'
import { openStore } from '../../src/open-store.js'
import { MESSAGE_TYPE } from '../../src/store/internal-types.js'
import type { AuthStore } from '../../src/auth/auth-store.js'
import { TimedIndex, type TimedEntry } from '../../src/store/timed-index.js'

/** The memory driver, keeping every batch it is asked to write and counting its reads and listings (ops are counted, never time). */
function countingMemory() {
  const driver = createMemoryDriver()
  const batches: WriteBatch[] = []
  const reads = { get: 0, list: 0 }
  const counted: Driver = {
    ...driver,
    write: (session, batch) => {
      batches.push(batch)
      return driver.write(session, batch)
    },
    get: (...args) => {
      reads.get++
      return driver.get(...args)
    },
    list: (...args) => {
      reads.list++
      return driver.list(...args)
    }
  }
  return { driver: counted, batches, reads }
}

const key = (id: string) => ({ remoteJid: '1555@s.whatsapp.net', id, fromMe: true })
const sent = (id: string) => ({ jid: '1555@s.whatsapp.net', id, message: { conversation: `text of ${id}` } })
const storedIds = async (store: AuthStore) => {
  const ids: string[] = []
  for await (const [, id] of store.listKeys('bot', MESSAGE_TYPE)) ids.push(id)
  return ids
}

describe('retry store bounds', () => {
  it('expires by age: an old message is not served (reason expired) and is deleted in the batch of the next record', async () => {
    mock.timers.enable({ apis: ['Date'], now: 1_000_000 })
    try {
      const { driver, batches } = countingMemory()
      const store = await openStore(driver)
      const messages = await store.useMessageStore('bot', { retainMs: 1_000, max: 100 })
      await messages.recordMessage(sent('A'))
      mock.timers.tick(600)
      await messages.recordMessage(sent('B'))
      mock.timers.tick(500) // A is 1,100 ms old, B 500 ms
      assert.equal(await messages.getMessage(key('A')), undefined)
      assert.equal((await messages.getMessage(key('B')))?.conversation, 'text of B')
      assert.deepEqual(messages.stats().missed, { expired: 1, neverRecorded: 0 })
      assert.equal(await messages.getMessage(key('C')), undefined)
      assert.deepEqual(messages.stats().missed, { expired: 1, neverRecorded: 1 })
      const before = batches.length
      await messages.recordMessage(sent('C'))
      assert.equal(batches.length, before + 1, 'one write per record')
      const last = batches.at(-1)!
      assert.equal(last.set.length, 1)
      assert.deepEqual(
        last.del.map(([, id]) => id.slice(id.indexOf('.') + 1)),
        ['A'],
        'the expired message goes in the same batch'
      )
      assert.equal((await storedIds(store)).length, 2)
      // Reopened later (a restart after a long stop): what expired meanwhile is swept at once.
      mock.timers.tick(5_000)
      const reopened = await openStore(driver)
      await reopened.useMessageStore('bot', { retainMs: 1_000, max: 100 })
      assert.deepEqual(await storedIds(reopened), [])
    } finally {
      mock.timers.reset()
    }
  })

  it('expires by count: at most max messages, the oldest go first', async () => {
    mock.timers.enable({ apis: ['Date'], now: 2_000_000 })
    try {
      const store = await openStore('memory:')
      const messages = await store.useMessageStore('bot', { retainMs: 60_000, max: 3 })
      for (const id of ['A', 'B', 'C', 'D', 'E']) {
        await messages.recordMessage(sent(id))
        mock.timers.tick(10)
      }
      assert.equal(messages.stats().size, 3)
      assert.deepEqual((await storedIds(store)).map(id => id.slice(id.indexOf('.') + 1)).sort(), ['C', 'D', 'E'])
      assert.equal(await messages.getMessage(key('A')), undefined)
      assert.equal(messages.stats().missed.expired, 1, 'pushed out by the count: reported as expired')
      assert.equal((await messages.getMessage(key('E')))?.conversation, 'text of E')
    } finally {
      mock.timers.reset()
    }
  })

  it('100,000 recorded messages: the index and the store stay at max, every record is one write of at most two entries', async () => {
    const { driver, batches, reads } = countingMemory()
    const store = await openStore(driver)
    const max = 1_000
    const messages = await store.useMessageStore('bot', { max })
    const index = store.messageSessions.get('bot')!.messages
    const readsAtOpen = { ...reads }
    let largest = 0
    let heldMax = 0
    for (let i = 0; i < 100_000; i++) {
      await messages.recordMessage(sent(`M${i}`))
      const batch = batches.at(-1) ?? assert.fail('recordMessage wrote a batch')
      largest = Math.max(largest, batch.set.length + batch.del.length)
      heldMax = Math.max(heldMax, index.held)
    }
    assert.deepEqual(reads, readsAtOpen, 'recording reads and lists nothing from the driver: expiry needs no scan of the store')
    assert.equal(batches.length, 100_000, 'one driver write per record')
    assert.equal(largest, 2, 'one set and at most one delete per write, however many were recorded')
    assert.ok(heldMax <= 2 * max + 1_100, `entries held in memory stay bounded (${heldMax})`)
    assert.equal(messages.stats().size, max)
    assert.equal((await storedIds(store)).length, max)
    assert.equal((await messages.getMessage(key('M99999')))?.conversation, 'text of M99999')
  })

  it('expiry visits a bounded number of index entries per write, not all of them (element reads counted)', () => {
    const max = 1_000
    const index = new TimedIndex({ retainMs: 50_000, max })
    // Counts reads of the index's queue elements; re-installed when compaction replaces the array.
    let visits = 0
    const watched = new WeakSet<object>()
    const watch = () => {
      const internal = index as unknown as { queue: TimedEntry[] }
      if (watched.has(internal.queue)) return
      const proxy = new Proxy(internal.queue, {
        get(target, prop, receiver) {
          if (typeof prop === 'string' && /^\d+$/.test(prop)) visits++
          return Reflect.get(target, prop, receiver)
        }
      })
      watched.add(proxy)
      internal.queue = proxy
    }
    const adds = 100_000
    for (let i = 0; i < adds; i++) {
      watch()
      // One entry per ms: past 50,000 entries the oldest also expire by age, before that by count.
      index.commit(index.add(`K${i}`, 1_000_000 + i))
    }
    assert.equal(index.size, max)
    assert.ok(visits / adds < 10, `on average ${(visits / adds).toFixed(1)} entries visited per write (a scan would visit ${max})`)
    // Control: a sweep that does walk many entries is seen by the same counter.
    watch()
    const before = visits
    assert.equal(index.expired(1_000_000 + adds + 60_000).length, max)
    assert.ok(visits - before >= max, 'the counter sees every entry a walk visits')
  })
})
