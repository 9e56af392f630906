import assert from 'node:assert/strict'
import { GROUP, JID } from './fixture-spec.js'
import type { SignalDevice } from './signal-device.js'

/**
 * The fixture's conversations go on: bob's and carol's next 1:1 and group messages decrypt on
 * alice's side from her stored state, with no re-keying, and her replies decrypt on theirs.
 * Shared by the tests (alice in a store) and the fixture generator (alice in her folder).
 */
export async function assertFixtureConversationContinues({ alice, bob, carol }: Record<'alice' | 'bob' | 'carol', SignalDevice>): Promise<void> {
  assert.equal(await alice.receive(JID.bob, await bob.send(JID.alice, 'next from bob')), 'next from bob')
  assert.equal(await alice.receiveGroup(GROUP, JID.bob, await bob.sendGroup(GROUP, 'group from bob')), 'group from bob')
  assert.equal(await alice.receive(JID.carol, await carol.send(JID.alice, 'next from carol')), 'next from carol')
  assert.equal(await bob.receive(JID.alice, await alice.send(JID.bob, 'reply from alice')), 'reply from alice')
  const toGroup = await alice.sendGroup(GROUP, 'alice to group')
  assert.equal(await bob.receiveGroup(GROUP, JID.alice, toGroup), 'alice to group')
  assert.equal(await carol.receiveGroup(GROUP, JID.alice, toGroup), 'alice to group')
  assert.equal(await carol.receive(JID.alice, await alice.send(JID.carol, 'reply to carol')), 'reply to carol')
}
