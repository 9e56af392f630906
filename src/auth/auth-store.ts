import type { Driver } from '../core/driver.js'
import { Store } from '../store/store.js'
import { assertSessionId } from '../store/validate.js'
import type { ValueCodec } from '../store/value-codec.js'
import { openMessageStore, type MessageStore, type MessageStoreOptions, type SessionMessages } from '../store/message-store.js'
import { makeAuthState, type AuthStateOptions, type SessionAuthRuntimes, type VaultAuthState } from './auth-state.js'

/**
 * The Store users get from openStore(): the store layer plus Baileys' auth state. The read cache,
 * write queue and in-flight writes of each session live on this instance, shared by every auth
 * state of that session (a bot that calls useAuthState again on reconnect must not get a second
 * cache that disagrees with the first, nor a second queue that reorders writes).
 */
export class AuthStore extends Store {
  /** @internal */
  readonly authRuntimes: SessionAuthRuntimes = new Map()

  /** @internal The retry store's indexes per session (see useMessageStore). */
  readonly messageSessions = new Map<string, SessionMessages>()

  /** @internal */
  constructor(
    driver: Driver,
    codec: ValueCodec,
    label: string,
    access: { readOnly: boolean },
    private readonly authDefaults: AuthStateOptions = {}
  ) {
    super(driver, codec, label, access)
  }

  /** Baileys' `{ state, saveCreds }` for one WhatsApp account in this store. */
  async useAuthState(sessionId: string, options: AuthStateOptions = {}): Promise<VaultAuthState> {
    assertSessionId(sessionId)
    return makeAuthState(this, sessionId, { ...this.authDefaults, ...options }, this.authRuntimes)
  }

  /**
   * The retry store of one account: `getMessage` and `msgRetryCounterCache` for makeWASocket,
   * and `record(sock)` to keep what the socket sends, so a contact's retry receipt after a
   * restart, crash or handoff is answered. Pass the session's lease so a zombie cannot record or serve.
   */
  async useMessageStore(sessionId: string, options: MessageStoreOptions = {}): Promise<MessageStore> {
    assertSessionId(sessionId)
    return openMessageStore(this, sessionId, options, this.messageSessions)
  }
}
