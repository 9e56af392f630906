import assert from 'node:assert/strict'
import type { Store } from '../../src/store/store.js'
import { GROUP, JID, baileysFolderDevice } from './fixture.js'
import { SignalDevice } from './signal-device.js'

/** A device whose auth state lives in `store` under `session`. */
export async function storeDevice(store: Store, session: string, jid: string): Promise<SignalDevice> {
  const { state, saveCreds, isNew } = await store.useAuthState(session)
  // Baileys saves fresh creds on its first connection; a device that never did is a new device.
  if (isNew) await saveCreds()
  return new SignalDevice(jid, state, saveCreds)
}

/**
 * The fixture's alice, now living in `store`, continues her conversations: bob's and carol's
 * next 1:1 and group messages (from Baileys' own folder stores) decrypt from the stored state,
 * with no re-keying, and her replies decrypt on their side.
 */
export async function assertConversationContinues(store: Store, session = 'alice'): Promise<void> {
  const alice = await storeDevice(store, session, JID.alice)
  const bob = await baileysFolderDevice('bob')
  const carol = await baileysFolderDevice('carol')
  assert.equal(await alice.receive(JID.bob, await bob.send(JID.alice, 'next from bob')), 'next from bob')
  assert.equal(await alice.receiveGroup(GROUP, JID.bob, await bob.sendGroup(GROUP, 'group from bob')), 'group from bob')
  assert.equal(await alice.receive(JID.carol, await carol.send(JID.alice, 'next from carol')), 'next from carol')
  assert.equal(await bob.receive(JID.alice, await alice.send(JID.bob, 'reply from alice')), 'reply from alice')
  assert.equal(await bob.receiveGroup(GROUP, JID.alice, await alice.sendGroup(GROUP, 'alice to group')), 'alice to group')
  assert.equal(await carol.receive(JID.alice, await alice.send(JID.carol, 'reply to carol')), 'reply to carol')
}
