import assert from 'node:assert/strict'
import { createHook } from 'node:async_hooks'
import { describe, it } from 'node:test'
import { createMemoryDriver } from '../../src/drivers/memory.js'
import { openStore } from '../../src/open-store.js'
import type { SendingSocket } from '../../src/store/message-store.js'

/**
 * The promises a recorded send makes: Node copies every enabled AsyncLocalStorage (one per
 * Baileys socket) onto each new promise, so on a gateway each promise on the send path costs
 * once per account. Counted, never timed. Before issue 21's fourth pass a recorded relayMessage
 * on the memory store made 7 promises more than the send alone; now 5.
 */
const ADDED_AT_MOST = 5

/** Promises made per call of `send` (the mean of `sends` calls, after one to warm up). */
async function promisesPer(send: (i: number) => Promise<unknown>, sends = 20): Promise<number> {
  let made = 0
  const hook = createHook({
    init: (_id, type) => {
      if (type === 'PROMISE') made++
    }
  })
  await send(0)
  hook.enable()
  try {
    for (let i = 1; i <= sends; i++) await send(i)
  } finally {
    hook.disable()
  }
  return made / sends
}

describe('retry store: promises per send', () => {
  it(`a recorded relayMessage makes at most ${ADDED_AT_MOST} promises more than the send alone. Control: one .then more is counted`, async () => {
    const store = await openStore('memory:')
    try {
      const messages = await store.useMessageStore('bot')
      const sock: SendingSocket = { sendMessage: async () => undefined, relayMessage: async () => 'id' }
      const alone = sock.relayMessage
      const relay = (s: SendingSocket['relayMessage'], prefix: string) => (i: number) =>
        s('1555@s.whatsapp.net', { conversation: `text ${i}` }, { messageId: `${prefix}${i}` })
      const off = await promisesPer(relay(alone, 'OFF'))
      // Control: the count notices a single promise more per send.
      assert.equal(await promisesPer(i => relay(alone, 'CTL')(i).then(id => id)), off + 1)
      messages.record(sock)
      const on = await promisesPer(relay(sock.relayMessage, 'ON'))
      assert.ok(on - off <= ADDED_AT_MOST, `a recorded send made ${on - off} promises more than the send alone`)
      assert.equal(messages.stats().recorded, 21, 'every recorded send was kept')
    } finally {
      await store.close()
    }
  })

  it('a record that failed while its send still runs: the send rejects with it (default onError), never an unhandled rejection; with onError it goes on', async () => {
    const memory = createMemoryDriver()
    let failWrites = false
    const store = await openStore({
      ...memory,
      write: (session, batch) => (failWrites ? Promise.reject(new Error('disk full')) : memory.write(session, batch))
    })
    const unhandled: unknown[] = []
    const notice = (reason: unknown) => unhandled.push(reason)
    process.on('unhandledRejection', notice)
    const turns = async (n: number) => {
      for (let i = 0; i < n; i++) await new Promise(resolve => setImmediate(resolve))
    }
    try {
      const messages = await store.useMessageStore('bot')
      failWrites = true
      // The send outlasts its record's failure by a few turns of the event loop.
      const slow: SendingSocket = { sendMessage: async () => undefined, relayMessage: () => turns(5).then(() => 'id') }
      messages.record(slow)
      await assert.rejects(slow.relayMessage('1555@s.whatsapp.net', { conversation: 'x' }, { messageId: 'FAILS' }), /disk full/)
      const reported: Error[] = []
      const tolerant: SendingSocket = { sendMessage: async () => undefined, relayMessage: () => turns(5).then(() => 'id') }
      messages.record(tolerant, { onError: err => reported.push(err) })
      assert.equal(await tolerant.relayMessage('1555@s.whatsapp.net', { conversation: 'x' }, { messageId: 'GOES-ON' }), 'id')
      assert.equal(reported.length, 1)
      await turns(2)
      assert.deepEqual(unhandled, [])
    } finally {
      process.off('unhandledRejection', notice)
      await store.close()
    }
  })
})
