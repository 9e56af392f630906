import { openStore, type OpenStoreOptions } from '../../src/open-store.js'
import type { AuthStore as Store } from '../../src/auth/auth-store.js'
import { SignalDevice, deliver } from './signal-device.js'

export const CRASH_GROUP = '120363777777777777@g.us'
const JIDS = { a: '15552220001:0@s.whatsapp.net', b: '15552220002:0@s.whatsapp.net' }

/**
 * Serialised options for the child (encryption keys travel as base64). The replacer looks at the
 * holder's own value: JSON.stringify has already turned a Buffer into {type, data} via toJSON.
 */
export const encodeOptions = (options: OpenStoreOptions = {}) =>
  JSON.stringify(options, function (this: Record<string, unknown>, k, v) {
    const raw = this[k]
    return raw instanceof Uint8Array ? { $b64: Buffer.from(raw).toString('base64') } : v
  })
export const decodeOptions = (text: string | undefined): OpenStoreOptions =>
  text ? JSON.parse(text, (_k, v) => (v && typeof v === 'object' && '$b64' in v ? Buffer.from(v.$b64, 'base64') : v)) : {}

/** Sessions of pair `pair`: a/b for pair 0 (the classic suite), a<n>/b<n> for the gateway pattern's others. */
export const pairSessions = (pair = 0) => (pair === 0 ? { a: 'a', b: 'b' } : { a: `a${pair}`, b: `b${pair}` })

export async function openPair(store: Store, pair = 0) {
  const sessions = pairSessions(pair)
  // Own JIDs per pair: libsignal queues work per address process-wide.
  const jid = (s: 'a' | 'b') => (pair === 0 ? JIDS[s] : JIDS[s].replace('1555222', `1555${300 + pair}`))
  const open = async (s: 'a' | 'b') => {
    const { state, saveCreds, isNew } = await store.useAuthState(sessions[s])
    if (isNew) await saveCreds()
    return new SignalDevice(jid(s), state, saveCreds)
  }
  return { a: await open('a'), b: await open('b') }
}

/** First contact: a 1:1 session and the group sender key, as before any crash. */
export async function setUpConversation(url: string, options: OpenStoreOptions, pairs = 1): Promise<void> {
  const store = await openStore(url, options)
  for (let pair = 0; pair < pairs; pair++) {
    const { a, b } = await openPair(store, pair)
    await a.startSessionWith(b)
    await deliver(a, b, 'hello')
    await deliver(b, a, 'hello back')
    const first = await a.sendGroup(CRASH_GROUP, 'group hello')
    await b.receiveGroup(CRASH_GROUP, a.jid, first, true)
  }
  await store.close()
}

/** One round of traffic in both directions and to the group; throws on any decrypt failure. */
export async function oneRound(a: SignalDevice, b: SignalDevice, n: number): Promise<void> {
  await deliver(a, b, `a->b ${n}`)
  await deliver(b, a, `b->a ${n}`)
  const text = `group ${n}`
  const got = await b.receiveGroup(CRASH_GROUP, a.jid, await a.sendGroup(CRASH_GROUP, text))
  if (got !== text) throw new Error(`group decrypted "${got}"`)
}
