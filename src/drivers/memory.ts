import type { Driver, ListEntry, ListOptions, WriteBatch } from '../core/driver.js'
import { renameTargetTaken } from '../core/errors.js'
import { refuseWrites } from './read-only.js'
import { memoryLease, type LeaseRecord } from './memory-lease.js'
import { DeferredBytes } from '../core/deferred-bytes.js'
import { bufferView } from '../core/bytes.js'

/**
 * In-process driver: tests, ephemeral bots, and the ceiling the benchmarks compare against.
 * Durability: none (the data lives as long as the process). Bytes are copied in and out so
 * a caller can never mutate what is stored. A value given as DeferredBytes is kept as it is and
 * made into bytes when first read (capability deferredBytes).
 */
interface SessionData {
  creds?: Buffer
  keys: Map<string, Map<string, Buffer | DeferredBytes>>
}

export interface MemoryDriverOptions {
  /** Stores opened with the same name in one process share their data (`memory:name`). */
  name?: string
  /** Refuse writes (the CLI's read-only commands). */
  readOnly?: boolean
}

/** What every successful write returns: already resolved, never mutated, so it can be shared. */
const LANDED: Promise<void> = Promise.resolve()

const named = new Map<string, Map<string, SessionData>>()
const namedLeases = new Map<string, Map<string, LeaseRecord>>()

export function createMemoryDriver(options: MemoryDriverOptions = {}): Driver {
  let data: Map<string, SessionData>
  if (options.name) {
    data = named.get(options.name) ?? new Map()
    if (!options.readOnly) named.set(options.name, data)
  } else {
    data = new Map()
  }
  const leases = (options.name && namedLeases.get(options.name)) || new Map<string, LeaseRecord>()
  if (options.name) namedLeases.set(options.name, leases)
  const { lease, fence } = memoryLease(leases)
  const copy = (bytes: Uint8Array) => Buffer.from(bytes)
  /** A stored value's bytes, copied out; a deferred value is made (once) and kept as bytes. */
  const readValue = (byId: Map<string, Buffer | DeferredBytes>, id: string, value: Buffer | DeferredBytes) => {
    if (!(value instanceof DeferredBytes)) return copy(value)
    const made = bufferView(value.bytes())
    byId.set(id, made)
    return copy(made)
  }
  const sessionData = (session: string) => {
    let s = data.get(session)
    if (!s) data.set(session, (s = { keys: new Map() }))
    return s
  }

  const hasData = (s: SessionData | undefined) => !!s && (!!s.creds || [...s.keys.values()].some(m => m.size > 0))

  const driver: Driver = {
    kind: 'memory',
    capabilities: { snapshot: false, rename: true, commitsOnCall: true, deferredBytes: true },
    lease,
    async getCreds(session) {
      const creds = data.get(session)?.creds
      return creds && copy(creds)
    },
    async get(session, type, ids) {
      const result = new Map<string, Uint8Array>()
      const byId = data.get(session)?.keys.get(type)
      if (!byId) return result
      for (const id of ids) {
        const value = byId.get(id)
        if (value) result.set(id, readValue(byId, id, value))
      }
      return result
    },
    write(session, batch: WriteBatch) {
      // Synchronous body: nothing can interleave, so the batch is atomic. Not an async function:
      // the batch has landed when this returns, and a promise made per write costs a copy of
      // every enabled AsyncLocalStorage (one per Baileys socket), so all writes share one.
      try {
        fence(session, batch.epoch)
        const s = sessionData(session)
        if (batch.creds) s.creds = copy(batch.creds)
        for (const [type, id, value] of batch.set) {
          let byId = s.keys.get(type)
          if (!byId) s.keys.set(type, (byId = new Map()))
          byId.set(id, value instanceof DeferredBytes ? value : copy(value))
        }
        for (const [type, id] of batch.del) s.keys.get(type)?.delete(id)
      } catch (err) {
        return Promise.reject(err)
      }
      return LANDED
    },
    async *list(session, type?: string, options: ListOptions = {}): AsyncIterable<ListEntry> {
      const s = data.get(session)
      if (!s) return
      const types = [...s.keys.keys()].filter(t => type === undefined || t === type).sort()
      for (const t of types) {
        const byId = s.keys.get(t)!
        for (const id of [...byId.keys()].sort()) {
          const value = byId.get(id)
          if (value === undefined) continue
          yield options.values ? [t, id, readValue(byId, id, value)] : [t, id]
        }
      }
    },
    async *sessions() {
      for (const [session, s] of data) {
        if (hasData(s)) yield session
      }
    },
    async drop(session) {
      data.delete(session)
    },
    async rename(from, to) {
      // Synchronous body: atomic.
      if (hasData(data.get(to))) throw renameTargetTaken(to)
      const s = data.get(from)
      data.delete(to)
      if (!s) return
      data.delete(from)
      data.set(to, s)
    },
    async close() {}
  }
  return options.readOnly ? refuseWrites(driver, `memory:${options.name ?? ''}`) : driver
}
