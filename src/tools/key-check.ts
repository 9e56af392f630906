import { fromBufferJson } from '../codec/buffer-json.js'
import { asBytes, isKeyPairShape } from './keypair.js'
import { preKeyNumber } from './prekeys.js'
import { parseSessionRecord } from './signal.js'
import type { StoredValue } from '../codec/stored-value.js'

/**
 * Shape checks of decoded values, per Baileys 7 key type: each returns undefined when the
 * value is what Baileys' own code expects to read, else a short reason (no key material).
 */
type Check = (value: StoredValue, id: string) => string | undefined

const isObject = (v: unknown): v is Record<string, StoredValue> => typeof v === 'object' && v !== null && !Array.isArray(v)
const DIGITS = /^[0-9]+$/

export const KEY_CHECKS: Record<string, Check> = {
  'pre-key': (v, id) => {
    if (preKeyNumber(id) === undefined) return 'the id is not a positive integer'
    // Shape only: deriving each public key costs ~0.5 ms, minutes for a grown store.
    if (!isKeyPairShape(v)) return 'not a key pair of 32-byte keys'
  },
  session: v => {
    if (!isObject(v) || !isObject(v._sessions)) return 'not a libsignal session record'
    try {
      parseSessionRecord(v)
    } catch {
      return 'libsignal cannot parse the session record'
    }
  },
  'sender-key': v => {
    // Baileys stores SenderKeyRecord.serialize() as bytes of BufferJSON text.
    const bytes = asBytes(v) ?? (isObject(v) ? Buffer.from(JSON.stringify(v)) : undefined)
    if (!bytes) return 'not a serialized sender key record'
    let states: StoredValue
    try {
      states = fromBufferJson(bytes.toString('utf8'))
    } catch {
      return 'the sender key record is not JSON'
    }
    if (!Array.isArray(states)) return 'the sender key record is not a list of states'
    for (const s of states) {
      if (!isObject(s) || typeof s.senderKeyId !== 'number' || !isObject(s.senderChainKey) || !isObject(s.senderSigningKey)) {
        return 'a sender key state lacks senderKeyId, senderChainKey or senderSigningKey'
      }
    }
  },
  'sender-key-memory': v => (isObject(v) && Object.values(v).every(x => typeof x === 'boolean') ? undefined : 'not a map of device JID to boolean'),
  'app-state-sync-key': v => (isObject(v) && asBytes(v.keyData)?.length ? undefined : 'no keyData'),
  'app-state-sync-version': v =>
    isObject(v) && typeof v.version === 'number' && v.hash instanceof Uint8Array && isObject(v.indexValueMap)
      ? undefined
      : 'not { version, hash, indexValueMap }',
  'lid-mapping': (v, id) => {
    if (typeof v !== 'string' || !DIGITS.test(v)) return 'the mapped user is not a string of digits'
    if (!DIGITS.test(id.endsWith('_reverse') ? id.slice(0, -'_reverse'.length) : id)) return 'the id is not a user number'
  },
  'device-list': v => (Array.isArray(v) && v.every(d => typeof d === 'string') ? undefined : 'not a list of device ids'),
  'identity-key': v => (v instanceof Uint8Array && (v.length === 33 || v.length === 32) ? undefined : 'not a 32/33-byte public key'),
  tctoken: v => (isObject(v) && (v.token === undefined || v.token instanceof Uint8Array) ? undefined : 'not { token, timestamp }')
}
