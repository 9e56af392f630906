import {
  addTransactionCapability,
  Curve,
  DEFAULT_CONNECTION_CONFIG,
  initAuthCreds,
  type AuthenticationCreds,
  type AuthenticationState,
  type SignalKeyStore,
  type SignalKeyStoreWithTransaction
} from '@whiskeysockets/baileys'
import { silentLogger } from '../src/sim/silent-logger.js'

/**
 * Baileys' Signal repository over an auth state, with the key store wrapped in Baileys'
 * transaction layer exactly as makeWASocket does; the wrapped keys are exposed so a workload
 * can open an outer transaction the way Baileys' relayMessage does.
 */
export function signalOf(auth: AuthenticationState) {
  const keys = addTransactionCapability(auth.keys as SignalKeyStore, silentLogger, { maxCommitRetries: 1, delayBetweenTriesMs: 10 })
  const repo = DEFAULT_CONNECTION_CONFIG.makeSignalRepository({ creds: auth.creds, keys }, silentLogger)
  return { keys, repo }
}

/**
 * Runs `encrypt` as Baileys' relayMessage runs a send: in one transaction of the key store, the
 * stanza leaving after the encrypt (one turn of the event loop, as a socket write), and the keys
 * committed only then. What a send starts before (the retry store's record) meets the commit
 * in this order, not in the same event-loop turn.
 */
export function asRelayed<T>(keys: SignalKeyStoreWithTransaction, jid: string, encrypt: () => Promise<T>): Promise<T> {
  return keys.transaction(async () => {
    const out = await encrypt()
    await new Promise(resolve => setImmediate(resolve))
    return out
  }, jid)
}

/** A pre-key bundle of `creds` with the one-time pre-key `preKey` (id `keyId`), as the server hands it out. */
export function bundleOf(creds: AuthenticationCreds, keyId: number, preKey: { public: Uint8Array }) {
  const prefixed = (key: Uint8Array) => Buffer.concat([Buffer.from([5]), Buffer.from(key)])
  return {
    registrationId: creds.registrationId,
    identityKey: prefixed(creds.signedIdentityKey.public),
    signedPreKey: { keyId: creds.signedPreKey.keyId, publicKey: prefixed(creds.signedPreKey.keyPair.public), signature: creds.signedPreKey.signature },
    preKey: { keyId, publicKey: prefixed(preKey.public) }
  }
}

/** A plain Map key store (setup only: builds state that is then copied into each target). */
export function mapKeys() {
  const data = new Map<string, Map<string, any>>()
  const keys = {
    async get(type: string, ids: string[]) {
      const out: Record<string, any> = {}
      const byId = data.get(type)
      for (const id of ids) {
        const v = byId?.get(id)
        if (v !== undefined) out[id] = v
      }
      return out
    },
    async set(set: Record<string, Record<string, any>>) {
      for (const type in set) {
        let byId = data.get(type)
        if (!byId) data.set(type, (byId = new Map()))
        for (const id in set[type]) {
          if (set[type][id] == null) byId.delete(id)
          else byId.set(id, set[type][id])
        }
      }
    }
  }
  /** Everything stored, as one keys.set payload. */
  const dump = () => {
    const out: Record<string, Record<string, any>> = {}
    for (const [type, byId] of data) out[type] = Object.fromEntries(byId)
    return out
  }
  return { data, keys, dump }
}

/** A device whose state lives in a setup-only Map store. */
export function setupDevice(creds: AuthenticationCreds = initAuthCreds()) {
  const store = mapKeys()
  const auth = { creds, keys: store.keys } as unknown as AuthenticationState
  return { creds, store, auth, ...signalOf(auth) }
}

export { Curve }
