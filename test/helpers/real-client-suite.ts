import assert from 'node:assert/strict'
import { describe, it, after } from 'node:test'
import { openStore, type OpenStoreOptions } from '../../src/open-store.js'
import { copyFixture, importBaileysFolder, readBaileysFolder } from './fixture.js'
import { SignalDevice, deliver } from './signal-device.js'
import { assertConversationContinues, storeDevice } from './conversation.js'

export { storeDevice }

export interface StoreTarget {
  url: string
  options?: OpenStoreOptions
  cleanup?: () => Promise<void>
}

/**
 * Real-client scenarios every driver passes: Baileys' own Signal repository on top of our
 * store, 1:1 and group traffic, the store closed and reopened mid-conversation, and the
 * fixture's alice carried into the store while bob stays on Baileys' own folder store.
 */
export function realClientSuite(name: string, makeTarget: () => Promise<StoreTarget>): void {
  describe(`real client: ${name}`, () => {
    const cleanups: Array<() => Promise<void>> = []
    after(async () => {
      for (const c of cleanups) await c()
    })
    const target = async () => {
      const t = await makeTarget()
      if (t.cleanup) cleanups.push(t.cleanup)
      return t
    }

    it('three devices exchange 1:1 and group messages across a store close and reopen', async () => {
      const t = await target()
      const names = ['alice', 'bob', 'carol'] as const
      const jids = { alice: '15551110001:0@s.whatsapp.net', bob: '15551110002:0@s.whatsapp.net', carol: '15551110003:0@s.whatsapp.net' }
      const group = '120363999999999999@g.us'
      let store = await openStore(t.url, t.options)
      const open = async () => {
        const d: Record<string, SignalDevice> = {}
        for (const n of names) d[n] = await storeDevice(store, n, jids[n])
        return d as Record<(typeof names)[number], SignalDevice>
      }
      let d = await open()
      await d.alice.startSessionWith(d.bob)
      await d.alice.startSessionWith(d.carol)
      const sent: string[] = []
      const say = async (from: SignalDevice, to: SignalDevice, text: string) => sent.push(await deliver(from, to, text))

      await say(d.alice, d.bob, 'hi bob (pkmsg)')
      await say(d.bob, d.alice, 'hi alice')
      await say(d.alice, d.carol, 'hi carol (pkmsg)')
      await say(d.carol, d.alice, 'hi alice from carol')
      const first = await d.alice.sendGroup(group, 'hello group')
      assert.equal(await d.bob.receiveGroup(group, d.alice.jid, first, true), 'hello group')
      assert.equal(await d.carol.receiveGroup(group, d.alice.jid, first, true), 'hello group')

      // The bundle's one-time pre-key was consumed and deleted; creds counters persisted.
      const bobCreds = await store.readCreds('bob')
      assert.ok(bobCreds && bobCreds.nextPreKeyId > 1, 'creds saved with the advanced pre-key counter')
      assert.equal((await store.readKeys('bob', 'pre-key', [String(bobCreds!.nextPreKeyId - 1)])).size, 0, 'used one-time pre-key removed')

      // Close mid-conversation; everything must come back from the backend.
      await store.close()
      store = await openStore(t.url, t.options)
      d = await open()
      for (let i = 0; i < 5; i++) {
        await say(d.alice, d.bob, `a->b ${i}`)
        await say(d.bob, d.alice, `b->a ${i}`)
        await say(d.carol, d.alice, `c->a ${i}`)
      }
      const again = await d.alice.sendGroup(group, 'group after reopen')
      assert.equal(await d.bob.receiveGroup(group, d.alice.jid, again), 'group after reopen')
      assert.equal(await d.carol.receiveGroup(group, d.alice.jid, again), 'group after reopen')
      const fromBob = await d.bob.sendGroup(group, 'bob to group')
      assert.equal(await d.alice.receiveGroup(group, d.bob.jid, fromBob, true), 'bob to group')
      assert.equal(sent.length, 19)
      await store.close()
    })

    it("the fixture's alice continues her conversations from the store", async () => {
      const t = await target()
      const store = await openStore(t.url, t.options)
      const aliceFolder = copyFixture('alice')
      const imported = await importBaileysFolder(store, aliceFolder, 'alice')
      assert.equal(imported, (await readBaileysFolder(aliceFolder)).keys.length)
      await assertConversationContinues(store)
      await store.close()
    })
  })
}
