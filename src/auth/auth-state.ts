import { initAuthCreds, type AuthenticationCreds, type SignalDataSet, type SignalDataTypeMap } from '../core/baileys.js'
import { must } from '../core/defined.js'
import type { LeaseGrant, WriteBatch } from '../core/driver.js'
import { invalidArgument } from '../core/errors.js'
import { Store, type WriteSettle } from '../store/store.js'
import { assertKeyId, assertSignalType } from '../store/validate.js'
import { isInternalType } from '../store/internal-types.js'
import { ReadCache, SHARED_VALUE_TYPES, type CacheEntry } from './read-cache.js'
import { WriteQueue } from './write-queue.js'
import { Prefetcher } from './prefetch.js'
import { VaultError } from '../core/errors.js'
import type { StoredValue } from '../codec/stored-value.js'
import { storesAsPlainJson } from '../codec/values.js'
import { DeferredBytes } from '../core/deferred-bytes.js'
import { describeLocation } from '../core/errors.js'

export interface AuthStateOptions {
  /** Entries of the bounded read cache (stored bytes per key); 0 disables it. Default 5,000. */
  cacheEntries?: number
  /**
   * The session's lease (store.acquireLease): every write carries its epoch as a fencing
   * token and fails with LEASE_LOST, never retried, once another owner has taken over.
   */
  lease?: Pick<LeaseGrant, 'session' | 'epoch'>
}

/**
 * Baileys' SignalKeyStore with enumeration as Baileys' next release declares it: `list` and
 * `listIds` stream (async iterables, one driver page in memory at a time), so its
 * `migrateAuthState` and bulk copies work with this store as source and as target.
 */
export interface VaultKeyStore {
  get<T extends keyof SignalDataTypeMap>(type: T, ids: string[]): Promise<{ [id: string]: SignalDataTypeMap[T] }>
  set(data: SignalDataSet): Promise<void>
  /** Deletes every key of the session (creds stay). One atomic write. */
  clear(): Promise<void>
  /** Ids stored under `type`, streamed in a stable order. */
  listIds(type: keyof SignalDataTypeMap | string): AsyncIterable<string>
  /** Ids and decoded values of `type`, streamed. */
  list<T extends keyof SignalDataTypeMap>(type: T): AsyncIterable<readonly [id: string, value: SignalDataTypeMap[T]]>
  /** Every id of `type` in one array (listIds collected): for small types; stream large ones with listIds. */
  allIds(type: keyof SignalDataTypeMap | string): Promise<string[]>
}

export interface VaultAuthState {
  /** Pass to makeWASocket({ auth: state }): a Baileys AuthenticationState. */
  state: { creds: AuthenticationCreds; keys: VaultKeyStore }
  /** Persist `state.creds` as it is now; wire it to `sock.ev.on('creds.update', saveCreds)`. */
  saveCreds: () => Promise<void>
  sessionId: string
  /** True when no creds were stored: this is a new device that must be linked. */
  isNew: boolean
}

const DEFAULT_CACHE_ENTRIES = 5_000

/** One read cache, write queue, prefetcher and set of in-flight writes per session of a store (see AuthStore). */
export type SessionAuthRuntimes = Map<string, SessionRuntime>

interface SessionRuntime {
  cache: ReadCache
  queue: WriteQueue
  inflight: Map<string, Promise<unknown>>
  prefetch: Prefetcher
  epoch?: number
}

function sessionRuntime(store: Store, bySession: SessionAuthRuntimes, sessionId: string, cacheEntries: number, epoch: number | undefined) {
  let runtime = bySession.get(sessionId)
  if (!runtime) {
    const cache = new ReadCache(cacheEntries)
    const inflight = new Map<string, Promise<unknown>>()
    const prefetch = new Prefetcher({ cache, list: type => store.listRaw(sessionId, type), writing: () => inflight.keys() })
    runtime = { cache, queue: new WriteQueue(), inflight, prefetch }
    store.trackWrites(runtime.queue)
    bySession.set(sessionId, runtime)
  }
  // A new lease epoch means another owner may have written since: cached values are suspect.
  if (epoch !== undefined && runtime.epoch !== epoch) {
    if (runtime.epoch !== undefined) {
      runtime.cache.clear()
      runtime.prefetch.reset()
    }
    runtime.epoch = epoch
  }
  return runtime
}

/**
 * Builds the auth state of one session. Writes are serialised per session and durable before
 * they resolve; the cache only learns a value after the backend has committed it, so a failed
 * write leaves cache and database agreeing on the previous state.
 */
export async function makeAuthState(store: Store, sessionId: string, options: AuthStateOptions, runtimes: SessionAuthRuntimes): Promise<VaultAuthState> {
  const epoch = options.lease?.epoch
  if (options.lease && options.lease.session !== sessionId) {
    throw invalidArgument(`The lease given to useAuthState is for session "${options.lease.session}", not "${sessionId}".`)
  }
  const stored = await store.readCreds(sessionId)
  // A session this store already opened (a bot reconnecting before its first saveCreds) is not orphaned.
  const reopened = runtimes.has(sessionId)
  if (stored === undefined && !reopened) await refuseHalfMadeSession(store, sessionId)
  const creds: AuthenticationCreds = stored ?? initAuthCreds()
  // Made only once the session passed the checks above: a refused session stays refused.
  const { cache, queue, inflight, prefetch } = sessionRuntime(store, runtimes, sessionId, options.cacheEntries ?? DEFAULT_CACHE_ENTRIES, epoch)
  const { codec } = Store.internals(store)

  /** What the cache keeps for a value just written or read (see SHARED_VALUE_TYPES). */
  const entryFor = (type: string, bytes: Uint8Array, value: unknown): CacheEntry => (SHARED_VALUE_TYPES.has(type) ? { value } : { bytes })
  /** A shared type's bytes (a prefetched entry) are decoded on first read, then kept decoded. */
  const readEntry = (entry: Exclude<CacheEntry, null>, type: string, key: string, id: string) => {
    if (!entry.bytes) return entry.value
    const value = codec.decode(entry.bytes, sessionId, type, id)
    if (SHARED_VALUE_TYPES.has(type)) cache.set(key, { value })
    return value
  }

  /** `values` holds the objects given to keys.set, aligned with batch.set. */
  const commit = (batch: WriteBatch, values: unknown[] = []): Promise<void> => {
    if (epoch !== undefined) batch.epoch = epoch
    const keyOf = ([type, id]: [string, string, ...unknown[]]) => {
      const key = ReadCache.key(type, id)
      prefetch.touched(type, key)
      return key
    }
    const setKeys = batch.set.map(keyOf)
    const delKeys = batch.del.map(keyOf)
    const touched = delKeys.length > 0 ? setKeys.concat(delKeys) : setKeys
    /**
     * The outcome is known: the keys are no longer in flight (see `inflight`) and the queue may go
     * idle. Runs inside the write's one handler (Store.writeRaw's settle), not a handler of its own.
     */
    const done = () => {
      for (const key of touched) if (inflight.get(key) === written) inflight.delete(key)
      queue.finished(written)
    }
    const settle: WriteSettle = {
      committed() {
        try {
          cache.generation++
          batch.set.forEach(([type, , bytes], i) => cache.set(must(setKeys[i], 'setKeys is batch.set mapped'), entryFor(type, bytes, values[i])))
          for (const key of delKeys) cache.set(key, null)
        } finally {
          done()
        }
      },
      failed() {
        // The outcome is unknown to the cache only if the backend might have committed; forget
        // the touched keys so the next read asks the database, which is the truth.
        cache.generation++
        for (const key of touched) cache.delete(key)
        done()
      }
    }
    // A driver that commits on call keeps the session's order by itself: the next write need not
    // wait for this one's flush (with a shared fsync that wait widened Baileys' window between a
    // send and its commit, and a SIGKILL there desynchronised the session).
    const written: Promise<void> = store.commitsOnCall
      ? queue.started(store.writeRaw(sessionId, batch, settle))
      : queue.run(() => store.writeRaw(sessionId, batch, settle))
    // Keys with a write queued or in flight. A read of such a key waits for that write: Baileys
    // runs transactions on different keys concurrently (a reply sent while the decrypt that
    // preceded it is still committing), and a read that returned the value from before the write
    // would fork the Signal session (Bad MAC on the next message).
    for (const key of touched) inflight.set(key, written)
    return written
  }

  /**
   * Fills `result` with the cached ids; returns the ids the cache does not know. An id a complete
   * prefetch showed absent is answered here too: a cold group send asks for ~900 lid-mappings that
   * do not exist, and each went through the async miss path (a miss count, a filter, arrays).
   */
  const fromCache = (type: string, ids: readonly string[], result: { [id: string]: StoredValue }) => {
    let missing: string[] | undefined
    for (const id of ids) {
      const key = ReadCache.key(type, id)
      const hit = cache.get(key)
      if (hit === undefined) {
        if (!prefetch.knownAbsent(type, key)) (missing ??= []).push(id)
      } else if (hit !== null) result[id] = readEntry(hit, type, key, id)
    }
    return missing
  }

  /** Reads ids of one type: cache first, then (after a burst of misses) a prefetch, then the driver. */
  const read = (type: string, ids: string[]): Promise<{ [id: string]: StoredValue }> => {
    const result: { [id: string]: StoredValue } = {}
    const missing = fromCache(type, ids, result)
    if (!missing) {
      prefetch.hit(type)
      return Promise.resolve(result)
    }
    return readMissing(type, missing, result)
  }

  const readMissing = async (type: string, ids: string[], result: { [id: string]: StoredValue }) => {
    let missing: string[] | undefined = ids
    const prefetching = prefetch.missed(type)
    if (prefetching) {
      await prefetching
      missing = fromCache(type, missing, result)
      if (!missing) return result
    }
    missing = missing.filter(id => !prefetch.knownAbsent(type, ReadCache.key(type, id)))
    if (missing.length === 0) return result
    const generation = cache.generation
    const fetched = await store.readRaw(sessionId, type, missing)
    const fresh = generation === cache.generation
    for (const id of missing) {
      const bytes = fetched.get(id)
      if (bytes) result[id] = codec.decode(bytes, sessionId, type, id)
      if (fresh) cache.set(ReadCache.key(type, id), bytes ? entryFor(type, bytes, result[id]) : null)
    }
    return result
  }

  /** Reads from the driver, past the cache: some of the ids have a committed write still flushing. */
  const readCommitted = async (type: string, ids: string[]) => {
    const result: { [id: string]: StoredValue } = {}
    const fetched = await store.readRaw(sessionId, type, ids)
    for (const [id, bytes] of fetched) result[id] = codec.decode(bytes, sessionId, type, id)
    return result
  }

  /**
   * A value's stored bytes. A driver that takes DeferredBytes (memory:) gets them for the shared
   * types when the value is plain JSON (checked now, so bad input still fails this write): a
   * session rewritten on every message is encoded only if something reads the driver before the
   * next write replaces it (core/deferred-bytes.ts says why this is exact).
   */
  const bytesOf = (type: string, id: string, value: unknown): Uint8Array =>
    store.defersBytes && SHARED_VALUE_TYPES.has(type) && storesAsPlainJson(value, () => describeLocation(sessionId, type, id))
      ? new DeferredBytes(() => codec.encode(value, sessionId, type, id))
      : codec.encode(value, sessionId, type, id)

  /** The Signal key types and ids of a keys.set payload as one batch; throws on bad input. */
  const batchOf = (data: SignalDataSet) => {
    const batch: WriteBatch = { set: [], del: [] }
    const values: unknown[] = []
    for (const type in data) {
      assertSignalType(type)
      const byId = data[type as keyof SignalDataSet]!
      for (const id in byId) {
        assertKeyId(type, id)
        const value = byId[id]
        if (value === null || value === undefined) batch.del.push([type, id])
        else {
          batch.set.push([type, id, bytesOf(type, id, value)])
          values.push(value)
        }
      }
    }
    return { batch, values }
  }

  // get and set are plain functions returning promises, not async ones: each async layer cost a
  // promise and a microtask turn per call (profiled), and bad input still rejects, never throws.
  const keys: VaultKeyStore = {
    get(type, ids) {
      try {
        assertSignalType(type)
        // A number id must fail as on every driver, not hit a cached string id.
        for (const id of ids) if (typeof id !== 'string') assertKeyId(type, id)
      } catch (err) {
        return Promise.reject(err)
      }
      if (inflight.size > 0) {
        let writes: Promise<unknown>[] | undefined
        for (const id of ids) {
          const write = inflight.get(ReadCache.key(type, id))
          if (write) (writes ??= []).push(write)
        }
        // A committed write is visible to the driver's reads at once: ask it rather than wait for
        // the flush (Baileys' concurrent transactions would all wake on the same state).
        if (writes) return store.commitsOnCall ? readCommitted(type, ids) : Promise.allSettled(writes).then(() => read(type, ids))
      }
      return read(type, ids)
    },

    set(data) {
      let made: ReturnType<typeof batchOf>
      try {
        made = batchOf(data)
      } catch (err) {
        return Promise.reject(err)
      }
      const { batch, values } = made
      return batch.set.length + batch.del.length > 0 ? commit(batch, values) : Promise.resolve()
    },

    async clear() {
      const batch: WriteBatch = { set: [], del: [] }
      // The store's own records (the retry store) are not Baileys' keys: they stay.
      for await (const [type, id] of store.listKeys(sessionId)) if (!isInternalType(type)) batch.del.push([type, id])
      await commit(batch)
      cache.clear()
      prefetch.reset()
    },

    async *listIds(type) {
      assertSignalType(type)
      // Writes made before the listing started are in it.
      await queue.drain()
      for await (const [, id] of store.listKeys(sessionId, type)) yield id
    },

    async *list(type) {
      assertSignalType(type)
      await queue.drain()
      for await (const [, id, value] of store.listKeys(sessionId, type, { values: true })) yield [id, value] as const
    },

    async allIds(type) {
      const ids: string[] = []
      for await (const id of keys.listIds(type)) ids.push(id)
      return ids
    }
  }

  const saveCreds = () => {
    // Encoded now, so the saved state is the one at call time, whatever Baileys mutates later.
    const bytes = codec.encode(creds, sessionId)
    return commit({ creds: bytes, set: [], del: [] })
  }

  return { state: { creds, keys }, saveCreds, sessionId, isNew: stored === undefined }
}

/**
 * Keys without creds are the remains of an interrupted migrate/restore (or of deleted creds).
 * Opened as a new device, Baileys would upload pre-keys whose ids collide with the orphaned
 * ones, so this refuses, before writing anything. Costs one listing of at most one key, and
 * only for a session without creds (and past the retry store's records, if any).
 */
async function refuseHalfMadeSession(store: Store, sessionId: string): Promise<void> {
  for await (const [type] of store.listKeys(sessionId)) {
    // The retry store may be opened before the first saveCreds: its records are not Baileys' keys.
    if (isInternalType(type)) continue
    throw new VaultError(
      'CORRUPT_DATA',
      `Session "${sessionId}" in ${store.label} has keys but no creds: a migrate or restore into it was interrupted (or its creds were deleted). ` +
        `Opening it would link a new device whose pre-keys collide with the stored ones, so nothing was written. ` +
        `Either run the migrate/restore again with --overwrite, or remove the session: baileys-vault drop ${store.label} --session ${JSON.stringify(sessionId)}`
    )
  }
}
