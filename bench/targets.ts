import { initAuthCreds, useMultiFileAuthState, type AuthenticationState } from '@whiskeysockets/baileys'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AuthStateOptions } from '../src/auth/auth-state.js'
import { openStore, type OpenStoreOptions } from '../src/open-store.js'
import type { Store } from '../src/store/store.js'
import { deleteRedisPrefix } from '../test/helpers/redis-keys.js'
import { uniqueId } from './util.js'

/** An auth state with its saveCreds, however the target stores it. */
export interface BenchAuth {
  state: AuthenticationState
  saveCreds: () => Promise<void>
}

/** One open connection to a backend (a store object, a folder handle…). */
export interface BenchConnection {
  auth(session: string, options?: AuthStateOptions): Promise<BenchAuth>
  /** The baileys-vault store, for vault targets (tools, raw seeding). */
  store?: Store
  close(): Promise<void>
}

/** Throwaway data of one target: connect (and reconnect) to it, measure it, delete it. */
export interface BenchBackend {
  connect(options?: OpenStoreOptions): Promise<BenchConnection>
  /** Bytes the data takes on disk / on the server, where that is meaningful. */
  sizeBytes?(): Promise<number>
  destroy(): Promise<void>
}

export type TargetKind = 'plain' | 'baileys' | 'memory' | 'file' | 'sqlite' | 'postgres' | 'redis'

export interface BenchTarget {
  name: string
  kind: TargetKind
  durability: string
  /** Fresh, empty data. */
  create(): Promise<BenchBackend>
  /** Short form of create() + connect() for workloads that open once. */
  open(): Promise<BenchConnection & { destroy(): Promise<void> }>
}

const tempDir = () => mkdtempSync(join(tmpdir(), 'vault-bench-'))

export function withOpen(target: Omit<BenchTarget, 'open'>): BenchTarget {
  return {
    ...target,
    async open() {
      const backend = await target.create()
      const conn = await backend.connect()
      return {
        ...conn,
        auth: (session, options) => conn.auth(session, options),
        close: () => conn.close(),
        async destroy() {
          await conn.close()
          await backend.destroy()
        }
      }
    }
  }
}

/** Size of a folder tree in bytes (allocated blocks, as `du` counts them). */
export function folderBytes(dir: string): number {
  let total = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) total += folderBytes(path)
    else total += statSync(path).blocks * 512
  }
  return total
}

/** The ceiling: values kept as objects in a Map, no encoding, no I/O. */
export const plainMemory: BenchTarget = withOpen({
  name: 'in-memory (plain Map)',
  kind: 'plain',
  durability: 'none',
  async create() {
    const sessions = new Map<string, { creds: any; data: Map<string, any> }>()
    return {
      async connect() {
        return {
          async auth(session) {
            let s = sessions.get(session)
            if (!s) sessions.set(session, (s = { creds: initAuthCreds(), data: new Map() }))
            const { data } = s
            const keys = {
              async get(type: string, ids: string[]) {
                const out: Record<string, any> = {}
                for (const id of ids) {
                  const v = data.get(`${type}/${id}`)
                  if (v !== undefined) out[id] = v
                }
                return out
              },
              async set(set: Record<string, Record<string, any>>) {
                for (const type in set)
                  for (const id in set[type]) {
                    if (set[type][id] == null) data.delete(`${type}/${id}`)
                    else data.set(`${type}/${id}`, set[type][id])
                  }
              }
            }
            return { state: { creds: s.creds, keys } as AuthenticationState, saveCreds: async () => {} }
          },
          async close() {}
        }
      },
      async destroy() {
        sessions.clear()
      }
    }
  }
})

export const baileysMultiFile: BenchTarget = withOpen({
  name: "Baileys' useMultiFileAuthState",
  kind: 'baileys',
  durability: 'none (writeFile, no fsync, not atomic)',
  async create() {
    const dir = tempDir()
    return {
      async connect() {
        return { auth: session => useMultiFileAuthState(join(dir, session)), async close() {} }
      },
      sizeBytes: async () => folderBytes(dir),
      async destroy() {
        rmSync(dir, { recursive: true, force: true })
      }
    }
  }
})

interface Place {
  dir: string
  id: string
}

/**
 * Any baileys-vault store URL. `makeUrl` gets a fresh temp dir and a unique id (for server
 * schemas/prefixes); `cleanup` deletes server-side data.
 */
export function vaultTarget(
  name: string,
  kind: TargetKind,
  durability: string,
  makeUrl: (place: Place) => string,
  options: OpenStoreOptions | ((place: Place) => OpenStoreOptions) = {},
  extra: { sizeBytes?: (place: Place) => Promise<number>; cleanup?: (place: Place) => Promise<void> } = {}
): BenchTarget {
  return withOpen({
    name,
    kind,
    durability,
    async create() {
      const place = { dir: tempDir(), id: uniqueId() }
      const url = makeUrl(place)
      const base = typeof options === 'function' ? options(place) : options
      return {
        async connect(more = {}) {
          const store = await openStore(url, { ...base, ...more, postgres: { ...base.postgres, ...more.postgres } })
          return {
            store,
            async auth(session, authOptions) {
              const { state, saveCreds } = await store.useAuthState(session, authOptions)
              return { state: state as unknown as AuthenticationState, saveCreds }
            },
            close: () => store.close()
          }
        },
        sizeBytes: extra.sizeBytes ? () => extra.sizeBytes!(place) : async () => folderBytes(place.dir),
        async destroy() {
          await extra.cleanup?.(place)
          rmSync(place.dir, { recursive: true, force: true })
        }
      }
    }
  })
}

/** The same random key for every encrypted target of a run. */
const benchKey = randomBytes(32)
export const encryption = { keys: { k: benchKey }, current: 'k' }

export const pgSchema = (id: string) => `bench_${id}`

export async function withPg<T>(fn: (client: any) => Promise<T>): Promise<T> {
  const { default: pg } = await import('pg')
  const client = new pg.Client({ connectionString: process.env.VAULT_TEST_POSTGRES_URL })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

export const postgresSize = (id: string) =>
  withPg(async c => {
    const { rows } = await c.query(
      `SELECT coalesce(sum(pg_total_relation_size(format('%I.%I', schemaname, tablename)::regclass)), 0)::bigint AS n FROM pg_tables WHERE schemaname = $1`,
      [pgSchema(id)]
    )
    return Number(rows[0].n)
  })

export const vaultMemory = vaultTarget('baileys-vault memory:', 'memory', 'none', p => `memory:bench-${p.id}`)
export const vaultFile = vaultTarget(
  'baileys-vault file: (default)',
  'file',
  "one fdatasync'd log record per folder per group; each changed file written once per checkpoint (~1 s), off the event loop",
  p => `file:${join(p.dir, 'auth')}`
)
export const vaultSqlite = vaultTarget(
  'baileys-vault sqlite: (default)',
  'sqlite',
  'WAL, commit at once: a commit without company with synchronous=FULL (its fsync in COMMIT), commits that come together share an fdatasync of the WAL off the event loop',
  p => `sqlite:${join(p.dir, 'b.db')}`
)
export const vaultSqliteNormal = vaultTarget(
  'baileys-vault sqlite: durability normal',
  'sqlite',
  "WAL, synchronous=NORMAL (crash-safe, not power-loss-safe): the promise of Baileys' next SQLite store",
  p => `sqlite:${join(p.dir, 'b.db')}`,
  { sqlite: { durability: 'normal' } }
)

/**
 * The peers a user compares against (issue 26): Baileys' own multi-file store, and a store with
 * the promise of Baileys' next SQLite store (WAL, synchronous=NORMAL, no fsync per write). They
 * run in every bench run, whatever BENCH_TARGETS says, beside the durable default.
 */
export const PEERS: ReadonlySet<string> = new Set([baileysMultiFile.name, vaultSqliteNormal.name])
export const peersNote = () =>
  `peers (in every run): ${[...PEERS].join('; ')} (the promise of Baileys' next SQLite store: WAL, synchronous=NORMAL, no fsync per write)`
export const vaultSqliteFull = vaultTarget(
  'baileys-vault sqlite: groupCommit false',
  'sqlite',
  'WAL, synchronous=FULL (fsync per commit, on the event loop; the default before the shared flush)',
  p => `sqlite:${join(p.dir, 'b.db')}`,
  { sqlite: { groupCommit: false } }
)
export const vaultSqliteEncrypted = vaultTarget(
  'baileys-vault sqlite: encrypted',
  'sqlite',
  'as sqlite default + AES-256-GCM per value',
  p => `sqlite:${join(p.dir, 'b.db')}`,
  { encryption }
)

export function vaultPostgres(): BenchTarget | undefined {
  const url = process.env.VAULT_TEST_POSTGRES_URL
  if (!url) return undefined
  return vaultTarget(
    'baileys-vault postgres://',
    'postgres',
    'server default: fsync=on, synchronous_commit=on',
    () => url,
    p => ({ postgres: { schema: pgSchema(p.id) } }),
    {
      sizeBytes: p => postgresSize(p.id),
      cleanup: p => withPg(c => c.query(`DROP SCHEMA IF EXISTS "${pgSchema(p.id)}" CASCADE`))
    }
  )
}

export function vaultRedis(): BenchTarget | undefined {
  const base = process.env.VAULT_TEST_REDIS_URL
  if (!base) return undefined
  return vaultTarget(
    'baileys-vault redis://',
    'redis',
    `AOF, appendfsync ${process.env.VAULT_TEST_REDIS_APPENDFSYNC ?? 'everysec'}`,
    p => {
      const url = new URL(base)
      url.searchParams.set('prefix', `bench-${p.id}`)
      return url.toString()
    },
    {},
    { cleanup: p => deleteRedisPrefix({ url: base, prefix: `bench-${p.id}` }) }
  )
}

/** Longer than any workload's round, so no renewal runs while a workload is measured. */
const BENCH_LEASE_TTL_MS = 10 * 60_000

/**
 * The same target with leases on (issue 14): every auth state is opened with a lease from
 * store.acquireLease, so every write carries its epoch and is fenced inside its atomic write.
 * One owner for the target's whole life: reopening a session takes the lease again (a new epoch).
 */
export function withLease(target: BenchTarget): BenchTarget {
  const owner = `bench:${process.pid}:${uniqueId()}`
  return withConnectionsWrapped(target, { suffix: ' + lease', durability: 'writes fenced by the lease epoch' }, conn => ({
    ...conn,
    async auth(session, authOptions) {
      const lease = await conn.store!.acquireLease(session, { owner, ttlMs: BENCH_LEASE_TTL_MS })
      return conn.auth(session, { ...authOptions, lease })
    }
  }))
}

/** A variant of `target` measured in the same rounds: the same backend, each connection passed through `wrap`. */
export function withConnectionsWrapped(
  target: BenchTarget,
  variant: { suffix: string; durability: string },
  wrap: (conn: BenchConnection) => BenchConnection
): BenchTarget {
  return withOpen({
    name: `${target.name}${variant.suffix}`,
    kind: target.kind,
    durability: `${target.durability}; ${variant.durability}`,
    async create() {
      const backend = await target.create()
      return {
        ...backend,
        connect: async options => wrap(await backend.connect(options))
      }
    }
  })
}

/** Issue 14's budget for the cost of fencing (share of msg/s lost with leases on), by target. */
export const FENCING_BUDGETS: ReadonlyMap<string, number> = new Map([
  [vaultSqlite.name, 0.03],
  ['baileys-vault postgres://', 0.05],
  ['baileys-vault redis://', 0.05]
])

/** `targets` with each budgeted target followed by its "+ lease" copy, so both run in the same rounds. */
export const withLeaseVariants = (targets: BenchTarget[]): BenchTarget[] => targets.flatMap(t => (FENCING_BUDGETS.has(t.name) ? [t, withLease(t)] : [t]))

/** Every target this machine can run; server targets only when their URL is set. */
export function allTargets(): BenchTarget[] {
  return [
    plainMemory,
    vaultMemory,
    baileysMultiFile,
    vaultFile,
    vaultSqlite,
    vaultSqliteFull,
    vaultSqliteNormal,
    vaultSqliteEncrypted,
    vaultPostgres(),
    vaultRedis()
  ]
    .filter((t): t is BenchTarget => t !== undefined)
    .filter(t => chosenTarget(t.name))
}

/**
 * BENCH_TARGETS=sqlite,redis keeps the targets whose name contains one of the words (the plain
 * Map baseline always runs: every ratio is against it; so do the peers).
 */
export function chosenTarget(name: string): boolean {
  const words = (process.env.BENCH_TARGETS ?? '')
    .split(',')
    .map(w => w.trim())
    .filter(Boolean)
  return name === plainMemory.name || PEERS.has(name) || words.length === 0 || words.some(w => name.includes(w))
}

export const serversNote = () =>
  [
    process.env.VAULT_TEST_POSTGRES_URL ? 'postgres: yes' : 'postgres: skipped (VAULT_TEST_POSTGRES_URL not set; `npm run bench` starts the servers)',
    process.env.VAULT_TEST_REDIS_URL ? 'redis: yes' : 'redis: skipped (VAULT_TEST_REDIS_URL not set)'
  ].join(', ')
