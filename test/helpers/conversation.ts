import type { AuthStore as Store } from '../../src/auth/auth-store.js'
import { JID, baileysFolderDevice } from './fixture.js'
import { assertFixtureConversationContinues } from './conversation-check.js'
import { SignalDevice } from './signal-device.js'

/** A device whose auth state lives in `store` under `session`. */
export async function storeDevice(store: Store, session: string, jid: string): Promise<SignalDevice> {
  const { state, saveCreds, isNew } = await store.useAuthState(session)
  // Baileys saves fresh creds on its first connection; a device that never did is a new device.
  if (isNew) await saveCreds()
  return new SignalDevice(jid, state, saveCreds)
}

/** The fixture's alice, now living in `store`, continues her conversations with bob and carol (Baileys' own folder stores). */
export async function assertConversationContinues(store: Store, session = 'alice'): Promise<void> {
  const alice = await storeDevice(store, session, JID.alice)
  await assertFixtureConversationContinues({ alice, bob: await baileysFolderDevice('bob'), carol: await baileysFolderDevice('carol') })
}
