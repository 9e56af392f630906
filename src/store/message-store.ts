import { AsyncLocalStorage } from 'node:async_hooks'
import { generateMessageIDV2, proto, type ProtoTypes, type CacheStore, type SocketConfig, type WAMessage, type WAMessageKey } from '../core/baileys.js'
import type { LeaseGrant, Settles, WriteBatch } from '../core/driver.js'
import { invalidArgument, isVaultError } from '../core/errors.js'
import { leaseLost } from '../drivers/shared-lease.js'
import { MESSAGE_TYPE, RETRY_COUNT_TYPE } from './internal-types.js'
import type { Store } from './store.js'
import { TimedIndex, storeIdOf, type RetentionBounds, type TimedEntry } from './timed-index.js'

/**
 * The retry store: the messages a session sent, kept so that a contact's retry receipt after a
 * restart, crash or handoff is answered (Baileys asks `getMessage` once its in-memory cache of
 * 5 minutes is gone). A small part of the Store beside the keys: entries are written through
 * the same atomic, lease-fenced, sealed write batches, under reserved types the auth state never
 * hands to Baileys (internal-types.ts). Bounded by age and count (timed-index.ts); the text of a
 * message is a secret like the keys and appears in no log, error, metric or report.
 */
export interface MessageStoreOptions extends Partial<RetentionBounds> {
  /** The session's lease (store.acquireLease): every write is fenced by it, and a retry is served only while it is current. */
  lease?: Pick<LeaseGrant, 'session' | 'epoch'>
}

export const DEFAULT_MESSAGE_BOUNDS: RetentionBounds = { retainMs: 24 * 60 * 60 * 1000, max: 5_000 }

export interface MessageStoreStats {
  /** Messages held now. */
  size: number
  /** Messages recorded by this process. */
  recorded: number
  /** Retry requests answered from the store. */
  served: number
  /** Retry requests for messages the store did not hold, by reason. */
  missed: { expired: number; neverRecorded: number }
}

/** The part of a socket record() wraps: what a bot calls to send. */
export interface SendingSocket {
  sendMessage: (jid: string, content: never, options?: { messageId?: string }) => Promise<WAMessage | undefined>
  relayMessage: (jid: string, message: ProtoTypes.IMessage, options: { messageId?: string }) => Promise<string>
  user?: { id: string }
}

/** The makeWASocket options the retry store supplies (see MessageStore.socketOptions). */
export type RetrySocketOptions = Pick<SocketConfig, 'getMessage' | 'msgRetryCounterCache' | 'patchMessageBeforeSending'>

export interface MessageStore {
  /** Pass to makeWASocket({ getMessage }): the message a contact asks for again, if held. */
  getMessage(key: WAMessageKey): Promise<ProtoTypes.IMessage | undefined>
  /** Pass to makeWASocket({ msgRetryCounterCache }): Baileys' resend counters, kept across restarts. */
  msgRetryCounterCache: CacheStore
  /**
   * Records every message the socket sends from now on (its sendMessage and relayMessage); each
   * send resolves once its message is stored. Returns a function that stops recording.
   * `onError`: told when a sent message could not be recorded (the send itself succeeded); default: the send rejects with it.
   */
  record(sock: SendingSocket, options?: { onError?: (err: Error) => void }): () => void
  /**
   * getMessage, msgRetryCounterCache and patchMessageBeforeSending for makeWASocket, composed
   * with your own: your getMessage is asked first, then the store; your counter cache wins; your
   * patch runs, then the store starts keeping the message (its write is handed to the driver
   * before the message is encrypted; the send resolves once it is durable). Spread it into the
   * config, then call record(sock).
   */
  socketOptions(own?: Partial<RetrySocketOptions>): RetrySocketOptions
  /** Stores one sent message (record() calls this). */
  recordMessage(sent: { jid: string; id: string; message: ProtoTypes.IMessage }): Promise<void>
  stats(): MessageStoreStats
}

/**
 * A send in progress (record's sendMessage): its id is chosen up front, and the patch hook, which
 * Baileys calls with the message before it encrypts and sends it, keeps it under that id. One
 * storage for the process, not one per opened store: on Node 20 an AsyncLocalStorage that ran
 * once is never collected and makes every later promise bigger (core/socket-storages.ts).
 */

/** One session's indexes, shared by every MessageStore of that session on one Store instance. */
export interface SessionMessages {
  epoch?: number
  loading: Promise<void>
  /** The load failed (the store was unreachable): the next open loads again instead of awaiting the same rejection for good. */
  loadFailed?: boolean
  messages: TimedIndex
  counters: TimedIndex
  counts: Map<string, number>
  stats: Omit<MessageStoreStats, 'size'>
  pending: Set<Promise<unknown>>
}

function checkBounds(options: MessageStoreOptions): RetentionBounds {
  const retainMs = options.retainMs ?? DEFAULT_MESSAGE_BOUNDS.retainMs
  const max = options.max ?? DEFAULT_MESSAGE_BOUNDS.max
  if (typeof retainMs !== 'number' || !(retainMs > 0))
    throw invalidArgument('messages.retainMs must be a positive number of milliseconds (e.g. 86400000 for 24 h).')
  if (!Number.isInteger(max) || max < 1) throw invalidArgument('messages.max must be a positive whole number of messages (e.g. 5000).')
  return { retainMs, max }
}

/**
 * The stored value of a message is `{ m: <its protobuf bytes> }`, sealed like every value when the
 * store is encrypted. Its BufferJSON text is written directly: byte for byte what encodeValue
 * makes of `{ m }` (the tools copy and check it as any value), without the generic walk and
 * replacer, which cost as much as the protobuf encoding itself on every send.
 */
export function messageBody(message: ProtoTypes.IMessage): Buffer {
  const bytes = proto.Message.encode(message).finish()
  const base64 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
  return Buffer.from(`{"m":{"type":"Buffer","data":"${base64}"}}`, 'utf8')
}
const decodeMessage = (value: unknown): ProtoTypes.IMessage | undefined => {
  const bytes = (value as { m?: Uint8Array } | null)?.m
  return bytes instanceof Uint8Array ? proto.Message.decode(bytes) : undefined
}

/** A send in progress (record's sendMessage): its id is chosen up front, and the patch hook keeps the message under it. */
interface Send {
  /** The MessageStore whose record() started the send: only its patch hook keeps the message. */
  owner: object
  jid: string
  id: string
  kept?: Promise<Error | undefined>
  onError: (err: Error) => void
  /** Settles when the send's call returned (see WriteBatch.joinUntil). */
  ended: Settles
}

/**
 * The end of a send (its call returned): a record waiting to ride the commit of the send's keys
 * waits no longer after it (WriteBatch.joinUntil). A callback list, not a promise: it makes no
 * promise per send (each one is copied onto by every enabled AsyncLocalStorage, one per Baileys
 * socket). Callbacks run in a microtask after end(), as a promise's would.
 */
class SendEnd implements Settles {
  private waiting: Array<() => void> | undefined = []

  then(onSettled: () => void): void {
    if (this.waiting) this.waiting.push(onSettled)
    else queueMicrotask(onSettled)
  }

  end(): void {
    const waiting = this.waiting
    this.waiting = undefined
    if (waiting && waiting.length > 0) queueMicrotask(() => waiting.forEach(settled => settled()))
  }
}
const ENDED: Settles = { then: onSettled => queueMicrotask(onSettled) }

/**
 * One storage for the sends of every MessageStore in the process: Node copies each enabled
 * AsyncLocalStorage onto every new promise, so one per session would tax all the process's
 * work (the Signal crypto included) once per account.
 */
const sending = new AsyncLocalStorage<Send>()

export async function openMessageStore(
  store: Store,
  sessionId: string,
  options: MessageStoreOptions,
  bySession: Map<string, SessionMessages>
): Promise<MessageStore> {
  const bounds = checkBounds(options)
  const epoch = options.lease?.epoch
  if (options.lease && options.lease.session !== sessionId) {
    throw invalidArgument(`The lease given to useMessageStore is for session "${options.lease.session}", not "${sessionId}".`)
  }
  let state = bySession.get(sessionId)
  // A new epoch means another owner may have written since: the index is rebuilt from the store.
  if (!state || state.loadFailed || (epoch !== undefined && state.epoch !== epoch)) {
    const messages = new TimedIndex(bounds)
    const counters = new TimedIndex(bounds)
    const counts = new Map<string, number>()
    const pending = state?.pending ?? new Set<Promise<unknown>>()
    const fresh: SessionMessages = {
      epoch,
      messages,
      counters,
      counts,
      pending,
      stats: state?.stats ?? { recorded: 0, served: 0, missed: { expired: 0, neverRecorded: 0 } },
      loading: load(store, sessionId, messages, counters, counts)
    }
    fresh.loading.catch(() => (fresh.loadFailed = true))
    if (!state) store.trackWrites({ drain: () => Promise.allSettled([...pending]).then(() => undefined) })
    state = fresh
    bySession.set(sessionId, state)
  }
  const s = state
  await s.loading
  await sweep(store, sessionId, s, epoch)

  /**
   * Writes a batch under the lease; `committed` runs once it landed. Tracked until settled (close
   * drains it). No promise of its own: each one on the send path costs a copy of every enabled
   * AsyncLocalStorage (Baileys makes one per socket).
   */
  const write = (batch: WriteBatch, committed?: () => void): Promise<void> => {
    if (epoch !== undefined) batch.epoch = epoch
    // settle runs asynchronously, once the outcome is known: `written` is set by then.
    const settled = () => s.pending.delete(written)
    const written: Promise<void> = store.writeRaw(sessionId, batch, {
      committed: () => {
        settled()
        committed?.()
      },
      failed: settled
    })
    s.pending.add(written)
    return written
  }

  /** Adds one entry of `type` (and drops the ones it pushes out) in one batch; resolves to the dropped entries. */
  const put = (index: TimedIndex, type: string, key: string, value: unknown): Promise<TimedEntry[]> => {
    const added = index.add(key, Date.now())
    const batch: WriteBatch = {
      set: [[type, added.entry.storeId, store.encodeValue(value, { session: sessionId, type, id: added.entry.storeId })]],
      del: added.drop.map(e => [type, e.storeId])
    }
    return write(batch, () => index.commit(added)).then(() => added.drop)
  }

  /** A retry is served only while the lease this store was opened with is the current one. */
  const checkLease = async () => {
    if (epoch === undefined) return
    const info = await store.leaseInfo(sessionId)
    if (info?.epoch !== epoch) throw leaseLost(sessionId, epoch)
  }

  /**
   * Writes one sent message (and drops what it pushes past the bounds) in one batch.
   * `joinUntil`: the record of a send, whose keys follow: it joins their commit, waiting at most
   * until the send ended (WriteBatch.joinNext, joinUntil).
   */
  const recordSent = ({ jid, id, message }: { jid: string; id: string; message: ProtoTypes.IMessage }, joinUntil?: Settles): Promise<void> => {
    if (typeof jid !== 'string' || typeof id !== 'string' || id === '' || !message)
      return Promise.reject(invalidArgument('recordMessage needs { jid, id, message } of a sent message.'))
    let body: Buffer
    try {
      body = messageBody(message)
    } catch {
      // The error of a message protobuf cannot encode may quote its content: name the field's place only.
      return Promise.reject(invalidArgument('recordMessage needs a message protobuf can encode (a proto.IMessage).'))
    }
    const added = s.messages.add(id, Date.now())
    const storeId = added.entry.storeId
    const batch: WriteBatch = {
      set: [[MESSAGE_TYPE, storeId, store.encodeBody(body, { session: sessionId, type: MESSAGE_TYPE, id: storeId })]],
      del: added.drop.map(e => [MESSAGE_TYPE, e.storeId]),
      ...(joinUntil && { joinNext: true, joinUntil })
    }
    return write(batch, () => {
      s.messages.commit(added)
      s.stats.recorded++
    })
  }
  const recordMessage: MessageStore['recordMessage'] = sent => recordSent(sent)

  const getMessage: MessageStore['getMessage'] = async key => {
    if (!key?.id) return undefined
    const found = s.messages.find(key.id, Date.now())
    if ('missing' in found) {
      if (found.missing === 'expired') s.stats.missed.expired++
      else s.stats.missed.neverRecorded++
      return undefined
    }
    await checkLease()
    const stored = await store.readRaw(sessionId, MESSAGE_TYPE, [found.entry.storeId])
    const bytes = stored.get(found.entry.storeId)
    const message = bytes && decodeMessage(store.decodeValue(bytes, { session: sessionId, type: MESSAGE_TYPE, id: found.entry.storeId }))
    if (message) s.stats.served++
    else s.stats.missed.neverRecorded++
    return message
  }

  const msgRetryCounterCache: CacheStore = {
    get: <T>(key: string) => s.counts.get(key) as T | undefined,
    set: async <T>(key: string, value: T) => {
      if (typeof value !== 'number') throw invalidArgument('msgRetryCounterCache holds resend counts (numbers).')
      const found = s.counters.find(key, Date.now())
      if ('entry' in found) {
        const storeId = found.entry.storeId
        await write({ set: [[RETRY_COUNT_TYPE, storeId, store.encodeValue(value, { session: sessionId, type: RETRY_COUNT_TYPE, id: storeId })]], del: [] })
      } else {
        for (const dropped of await put(s.counters, RETRY_COUNT_TYPE, key, value)) if (dropped.key !== key) s.counts.delete(dropped.key)
      }
      s.counts.set(key, value)
    },
    del: async (key: string) => {
      const found = s.counters.find(key, Date.now())
      if ('entry' in found) {
        await write({ set: [], del: [[RETRY_COUNT_TYPE, found.entry.storeId]] })
        s.counters.removeAll([found.entry])
      }
      s.counts.delete(key)
    },
    flushAll: () => {
      // Baileys never flushes this cache; the counters expire with the messages.
    }
  }

  /** This store's mark on the sends its record() starts (see Send.owner). */
  const owner = {}

  /**
   * Starts keeping a sent message and returns at once: the write is handed to the driver now.
   * SQLite commits it in this call, before the message is encrypted and leaves; the server
   * stores and file: carry it in the group commit of the keys Baileys writes for the same send
   * (after the message left; joinNext), or on its own once `ended` (the send's call returned)
   * settles with no write to ride. The send awaits the returned promise only when it ends, so
   * recording adds no round trip of its own. It never rejects: it resolves to the error the send
   * must throw, LEASE_LOST (a zombie's send fails, and nothing of it lands) or what onError threw
   * (the default onError rethrows); any other failure is reported to onError and the send goes
   * on. (Resolving instead of rejecting spares the handler a rejection waiting for the send's end
   * would need, which also keeps one from counting as unhandled meanwhile: one promise fewer per send.)
   */
  const keep = (sent: { jid: string; id: string; message: ProtoTypes.IMessage }, onError: (err: Error) => void, ended: Settles): Promise<Error | undefined> =>
    recordSent(sent, ended).then(undefined, (err: Error) => {
      if (isVaultError(err, 'LEASE_LOST')) return err
      try {
        onError(err)
      } catch (thrown) {
        return thrown as Error
      }
      return undefined
    })

  const socketOptions: MessageStore['socketOptions'] = (own = {}) => {
    const ownGet = own.getMessage
    const ownPatch = own.patchMessageBeforeSending
    return {
      getMessage: async key => (ownGet ? await ownGet(key) : undefined) ?? getMessage(key),
      msgRetryCounterCache: own.msgRetryCounterCache ?? msgRetryCounterCache,
      patchMessageBeforeSending: async (message, jids) => {
        const patched = ownPatch ? await ownPatch(message, jids) : message
        const send = sending.getStore()
        // Called once per recipient group, and with the copy for our own devices: the first call with the message itself keeps it.
        if (send?.owner === owner && !send.kept && !message.deviceSentMessage)
          send.kept = keep({ jid: send.jid, id: send.id, message }, send.onError, send.ended)
        return patched
      }
    }
  }

  const record: MessageStore['record'] = (sock, recordOptions = {}) => {
    const { sendMessage, relayMessage } = sock
    const onError =
      recordOptions.onError ??
      ((err: Error) => {
        throw err
      })
    sock.sendMessage = async (jid, content, options = {}) => {
      const ended = new SendEnd()
      const send: Send = {
        owner,
        jid,
        id: options.messageId ?? generateMessageIDV2(sock.user?.id),
        onError,
        ended
      }
      let msg: WAMessage | undefined
      try {
        msg = await sending.run(send, () => sendMessage.call(sock, jid, content, { ...options, messageId: send.id }))
      } finally {
        ended.end()
      }
      // Without the patch hook (socketOptions not passed to makeWASocket) the message is kept after it left.
      if (!send.kept && msg?.key.id && msg.message) send.kept = keep({ jid: msg.key.remoteJid ?? jid, id: msg.key.id, message: msg.message }, onError, ENDED)
      const failed = await send.kept
      if (failed) throw failed
      return msg
    }
    sock.relayMessage = async (jid, message, options) => {
      const id = options?.messageId ?? generateMessageIDV2(sock.user?.id)
      const ended = new SendEnd()
      const kept = keep({ jid, id, message }, onError, ended)
      let relayed: string
      try {
        relayed = await relayMessage.call(sock, jid, message, { ...options, messageId: id })
      } finally {
        ended.end()
      }
      const failed = await kept
      if (failed) throw failed
      return relayed
    }
    return () => {
      sock.sendMessage = sendMessage
      sock.relayMessage = relayMessage
    }
  }

  return {
    getMessage,
    msgRetryCounterCache,
    socketOptions,
    record,
    recordMessage,
    stats: () => ({ size: s.messages.size, recorded: s.stats.recorded, served: s.stats.served, missed: { ...s.stats.missed } })
  }
}

/** Builds the indexes from one listing of ids (messages) and of the small counters (with values). */
async function load(store: Store, sessionId: string, messages: TimedIndex, counters: TimedIndex, counts: Map<string, number>): Promise<void> {
  const ids: string[] = []
  for await (const [, id] of store.listKeys(sessionId, MESSAGE_TYPE)) ids.push(id)
  messages.load(ids)
  const counterIds: string[] = []
  for await (const [, id, value] of store.listKeys(sessionId, RETRY_COUNT_TYPE, { values: true })) {
    counterIds.push(id)
    const key = id.slice(id.indexOf('.') + 1)
    if (typeof value === 'number') counts.set(key, value)
  }
  counters.load(counterIds)
}

/** Deletes what expired while nothing was recorded (e.g. while the process was down), in one batch per type. */
async function sweep(store: Store, sessionId: string, s: SessionMessages, epoch: number | undefined): Promise<void> {
  const now = Date.now()
  for (const [index, type] of [
    [s.messages, MESSAGE_TYPE],
    [s.counters, RETRY_COUNT_TYPE]
  ] as const) {
    const expired = index.expired(now)
    if (expired.length === 0) continue
    try {
      await store.writeRaw(sessionId, { set: [], del: expired.map(e => [type, e.storeId]), epoch })
      index.removeAll(expired)
      if (type === RETRY_COUNT_TYPE) for (const e of expired) s.counts.delete(e.key)
    } catch (err) {
      // A read-only store or a lost lease keeps the entries; they are not served once expired.
      if (!isVaultError(err)) throw err
    }
  }
}

/** For tests and tools: the stored id an entry written at `at` would get. */
export const messageStoreId = storeIdOf
