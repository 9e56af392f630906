import { jidDecode, proto } from '../core/baileys.js'
import { isVaultError } from '../core/errors.js'
import type { Store } from '../store/store.js'
import { MessageAges, type RetryStoreSummary } from './message-ages.js'
import { isLinked } from './creds-check.js'
import { asBytes } from './keypair.js'
import { progressTicker, type ProgressListener } from './progress.js'
import { selectSessions, sessionNotFound } from './sessions.js'
import { interruptedCopies } from './staging.js'
import type { StoredValue } from '../codec/stored-value.js'

export interface SessionSummary {
  session: string
  /** Phone number (user part of me.id) and LID user, once linked. */
  phone?: string
  lid?: string
  linked: boolean
  /** Baileys' `registered` flag (set by the pairing-code flow). */
  registered: boolean
  /** Set when the creds exist but cannot be read (e.g. CORRUPT_DATA, DECRYPT_FAILED). */
  credsError?: string
  hasCreds: boolean
  keys: number
  counts: Record<string, number>
  /** Stored bytes (creds + keys, as the driver returns them): an approximation of the size. */
  bytes: number
}

/**
 * The creds, summarised. Built from an allow-list of fields: private keys, advSecretKey,
 * pairing code and noise/ephemeral keys are never part of it.
 */
export interface CredsSummary {
  registrationId?: number
  me?: { id?: string; lid?: string; name?: string }
  platform?: string
  linked: boolean
  registered: boolean
  /** Public identity key (base64, 32 bytes): what peers see; not secret. */
  identityKey?: string
  signedPreKeyId?: number
  nextPreKeyId?: number
  firstUnuploadedPreKeyId?: number
  account?: { present: true; keyIndex?: number; rawId?: number; timestamp?: number } | { present: false }
  myAppStateKeyId?: string
  accountSyncCounter?: number
  processedHistoryMessages?: number
  signalIdentities?: number
  routingInfoBytes?: number
  pairingCodeSet: boolean
}

export interface LsResult {
  store: string
  sessions: SessionSummary[]
  /** Leftovers of interrupted migrate/restore runs (staging sessions, unfinished hidden copies): not usable sessions. */
  interrupted: string[]
}

export interface InspectResult {
  store: string
  summary: SessionSummary
  creds?: CredsSummary
  /** Stored bytes per key type. */
  bytesByType: Record<string, number>
  /** Files beside the session's data that the store does not own and never touches (file: store). */
  ignored: string[]
  /** The retry store's count and ages (never a message); absent when it holds nothing. */
  retryStore?: RetryStoreSummary
}

async function summarize(store: Store, session: string, bytesByType?: Record<string, number>, tick?: (n: number) => void, ages?: MessageAges) {
  let creds: StoredValue
  let credsError: string | undefined
  const credsBytes = await store.readRawCreds(session)
  if (credsBytes) {
    try {
      creds = store.decodeCreds(credsBytes, session)
    } catch (err) {
      if (!isVaultError(err)) throw err
      credsError = err.code
    }
  }
  const counts: Record<string, number> = {}
  let keys = 0
  let bytes = credsBytes?.length ?? 0
  for await (const [type, id, value] of store.listRaw(session)) {
    keys++
    ages?.add(type, id)
    counts[type] = (counts[type] ?? 0) + 1
    bytes += value?.length ?? 0
    if (bytesByType) bytesByType[type] = (bytesByType[type] ?? 0) + (value?.length ?? 0)
    if (keys % 500 === 0) tick?.(500)
  }
  tick?.(keys % 500)
  const summary: SessionSummary = {
    session,
    phone: userOf(creds?.me?.id),
    lid: userOf(creds?.me?.lid),
    linked: !!creds && isLinked(creds),
    registered: creds?.registered === true,
    credsError,
    hasCreds: !!credsBytes,
    keys,
    counts,
    bytes
  }
  if (!credsError) delete summary.credsError
  return { summary, creds }
}

/** The phone number or LID of a JID (without its device), by Baileys' own parser. */
const userOf = (jid: unknown): string | undefined => (typeof jid === 'string' ? jidDecode(jid)?.user : undefined)

/** Every session of a store with its phone/LID, link state, key counts and size. */
export async function ls(store: Store, options: { onProgress?: ProgressListener } = {}): Promise<LsResult> {
  const ticker = progressTicker(options.onProgress, 'read')
  const sessions: SessionSummary[] = []
  for (const s of await selectSessions(store)) sessions.push((await summarize(store, s, undefined, n => ticker.add(n, s))).summary)
  ticker.add(0, undefined, true)
  return { store: store.label, sessions, interrupted: await interruptedCopies(store) }
}

/** One session in detail: counts and sizes by type, and a creds summary without any secret. */
export async function inspect(store: Store, session: string, options: { onProgress?: ProgressListener } = {}): Promise<InspectResult> {
  const ticker = progressTicker(options.onProgress, 'read')
  const bytesByType: Record<string, number> = {}
  const ages = new MessageAges()
  const { summary, creds } = await summarize(store, session, bytesByType, n => ticker.add(n, session), ages)
  ticker.add(0, undefined, true)
  if (!summary.hasCreds && summary.keys === 0) {
    throw await sessionNotFound(store, session)
  }
  const result: InspectResult = { store: store.label, summary, creds: creds && credsSummary(creds), bytesByType, ignored: await store.ignoredFiles(session) }
  const retryStore = ages.summary()
  if (retryStore) result.retryStore = retryStore
  return result
}

export function credsSummary(creds: StoredValue): CredsSummary {
  const num = (v: unknown) => (typeof v === 'number' ? v : undefined)
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined)
  const identity = creds.signedIdentityKey?.public
  let account: CredsSummary['account'] = { present: false }
  if (creds.account && typeof creds.account === 'object') {
    account = { present: true }
    const details = asBytes(creds.account.details)
    if (details) {
      try {
        const d = proto.ADVDeviceIdentity.decode(details)
        account = { present: true, keyIndex: num(d.keyIndex), rawId: num(d.rawId), timestamp: d.timestamp == null ? undefined : Number(d.timestamp) }
      } catch {
        // details unreadable: doctor reports it; the summary just says an account is present
      }
    }
  }
  const me = creds.me && typeof creds.me === 'object' ? { id: str(creds.me.id), lid: str(creds.me.lid), name: str(creds.me.name) } : undefined
  return {
    registrationId: num(creds.registrationId),
    me,
    platform: str(creds.platform),
    linked: isLinked(creds),
    registered: creds.registered === true,
    identityKey: identity instanceof Uint8Array ? Buffer.from(identity).toString('base64') : undefined,
    signedPreKeyId: num(creds.signedPreKey?.keyId),
    nextPreKeyId: num(creds.nextPreKeyId),
    firstUnuploadedPreKeyId: num(creds.firstUnuploadedPreKeyId),
    account,
    myAppStateKeyId: str(creds.myAppStateKeyId),
    accountSyncCounter: num(creds.accountSyncCounter),
    processedHistoryMessages: Array.isArray(creds.processedHistoryMessages) ? creds.processedHistoryMessages.length : undefined,
    signalIdentities: Array.isArray(creds.signalIdentities) ? creds.signalIdentities.length : undefined,
    routingInfoBytes: creds.routingInfo instanceof Uint8Array ? creds.routingInfo.length : undefined,
    pairingCodeSet: typeof creds.pairingCode === 'string' && creds.pairingCode.length > 0
  }
}
