/**
 * The driver contract: opaque bytes under (session, type, id) plus one creds blob per
 * session. A driver knows nothing of Baileys; the store layer adds the codec, the cache,
 * encryption and error wrapping. Keep it small: every backend implements exactly this.
 */

/** One atomic batch. Future fields (e.g. a lease fence token) are added here, not as new methods. */
export interface WriteBatch {
  /** New creds bytes for the session, written in the same transaction as the keys. */
  creds?: Uint8Array
  set: Array<[type: string, id: string, value: Uint8Array]>
  del: Array<[type: string, id: string]>
  /**
   * Fencing token: apply the batch only if the session's lease is held (not released) at
   * exactly this epoch, checked inside the same atomic write. Otherwise the batch fails with
   * VaultError LEASE_LOST and none of it lands. Absent: no fence (no lease in use).
   */
  epoch?: number
  /**
   * A hint for drivers that group commits: the batch may wait (a few ms at most) for the next
   * group another write starts, instead of starting one. Set on writes whose caller knows more
   * writes follow at once (the retry store's record of a send, whose keys Baileys commits right
   * after). Safe to ignore: a driver that commits on call does.
   */
  joinNext?: boolean
  /**
   * A copy into a new session written in place, hidden until complete (capability `hiddenCopy`;
   * migrate). `'begin'`: the session must hold no creds and no keys (else the batch fails and
   * none of it lands); it is marked as a copy in progress with this batch, and `sessions()` stops
   * listing it. `'end'`: this batch completes the copy and removes the mark, in one transaction
   * (fails if the mark is gone: the copy was dropped meanwhile). Only drivers with the capability
   * receive it.
   */
  copy?: 'begin' | 'end'
  /**
   * With `joinNext`: settles when no write will follow for this batch to ride (the send ended),
   * so it waits no longer; the driver's few-ms limit stays as a backstop. Lets a record wait out
   * an encrypt's reads on a loaded machine without a fixed window too short or too long.
   */
  joinUntil?: Settles
}

/**
 * Tells its callbacks once it settled: a Promise, or a lighter one-shot signal that makes no
 * promise (the retry store's send end: each promise on the send path is copied onto by every
 * enabled AsyncLocalStorage, one per Baileys socket).
 */
export interface Settles {
  then(onSettled: () => void, onFailed: () => void): unknown
}

export interface ListOptions {
  /** Also yield the stored bytes (tools: migrate, backup, doctor). */
  values?: boolean
  /**
   * With `values`: the caller checks each value's JSON text (checkBody), so a driver that reads on
   * another thread may parse there and mark the bodies that parsed (codec/parsed-json.ts).
   */
  checkJson?: boolean
}

export type ListEntry = [type: string, id: string, value?: Uint8Array]
/** A listing entry asked for with `values: true`: the stored bytes are there. */
export type ListEntryWithValue = [type: string, id: string, value: Uint8Array]

export interface DriverCapabilities {
  /**
   * Values are stored as Baileys' own BufferJSON text, without the vault envelope byte,
   * so that Baileys' useMultiFileAuthState can read them (the file driver).
   */
  bareJson?: boolean
  /** `snapshot(fn)` runs reads against one consistent point in time. */
  snapshot?: boolean
  /**
   * `write` commits the batch before it returns (its promise then settles once the commit is
   * durable, or rejects if the commit failed), and reads see a commit at once. Batches then land
   * in call order without waiting for each other's flush, and a read of a key whose write is
   * still flushing can ask the driver instead of waiting (the auth state does both). SQLite and
   * memory: commit synchronously; the server drivers and file: do not. A wrapper that delays
   * or defers the inner write must not pass this capability on.
   */
  commitsOnCall?: boolean
  /**
   * A set entry's value may be a DeferredBytes (core/deferred-bytes.ts): the driver keeps it and
   * calls `bytes()` when the value is first read. Built-in memory: only; a wrapper that does not
   * read values itself may pass it on.
   */
  deferredBytes?: boolean
  /**
   * `rename(from, to)` moves a whole session (creds and keys) to a new id in one atomic step,
   * refusing when `to` holds data. migrate and restore write into a staging session and
   * rename it, so an interrupted copy is never visible. `canRename` may exclude some sessions.
   */
  rename?: boolean
  /**
   * Another project's layout read in place (an importer, drivers/import/): migrate reads and
   * checks every value of a session before it writes any, so a value that does not decode stops
   * it with nothing written to the target.
   */
  foreign?: boolean
  /**
   * WriteBatch.copy is honoured and `hiddenCopies()` lists the marked sessions: migrate writes a
   * new session in place instead of into a staging session that a rename publishes (SQLite: a
   * rename rewrites every row). A marked session without creds is an unfinished copy: not
   * listed by `sessions()`, refused by useAuthState (keys without creds), removed by `drop` and
   * by the next migrate into it.
   */
  hiddenCopy?: boolean
}

export interface Driver {
  /** Short name for messages: 'sqlite', 'postgres', … */
  readonly kind: string
  readonly capabilities: DriverCapabilities
  getCreds(session: string): Promise<Uint8Array | undefined>
  /** Missing ids are absent from the map. */
  get(session: string, type: string, ids: readonly string[]): Promise<Map<string, Uint8Array>>
  /** All or nothing, and durable when the promise resolves (each driver documents its level). */
  write(session: string, batch: WriteBatch): Promise<void>
  /** Keys of one session, optionally of one type, in a stable order. */
  list(session: string, type?: string, options?: ListOptions): AsyncIterable<ListEntry>
  /** Every session that has creds or keys. */
  sessions(): AsyncIterable<string>
  /**
   * Remove a session and all its keys, atomically. Not fenced: a tool takes the lease first,
   * which fences every other writer; the lease record survives, so epochs never go back.
   */
  drop(session: string): Promise<void>
  /** Optional (capability `rename`): atomic move of a session; throws if `to` has data. */
  rename?(from: string, to: string): Promise<void>
  /** Optional (capability `hiddenCopy`): sessions marked as an unfinished copy, without creds (see WriteBatch.copy). */
  hiddenCopies?(): AsyncIterable<string>
  /** Optional: false for sessions `rename` cannot move (file: the root folder). Default: all. */
  canRename?(from: string, to: string): boolean
  /** Optional: keys per type of a session, as `list` would count them, without listing them (verification's count check). */
  countKeys?(session: string): Promise<Record<string, number>>
  close(): Promise<void>
  /**
   * Optional: entries in a session's place that the driver does not own and never touches
   * (the file: store yields paths relative to its folder, e.g. `package-lock.json`, `bot-2/notes.txt`;
   * sub-folders end in `/`). inspect and doctor list them as "ignored".
   */
  ignoredFiles?(session: string): AsyncIterable<string>
  /**
   * Optional: a store opened read-only found an interrupted atomic batch in this session (the
   * file: store's journal) that only a read-write open completes. doctor reports it.
   */
  unfinishedBatch?(session: string): Promise<boolean>
  /**
   * Optional: the backup file the session's creds were read from because the main file was
   * missing or unreadable (the file: store reading Baileys' `creds.json.bak`), else undefined.
   * doctor reports it; the next saveCreds writes the main file again.
   */
  credsFromBackup?(session: string): Promise<string | undefined>
  /**
   * Optional: every key of a session, each with whether its value may have changed since `since`
   * (ms since the epoch, this host's clock), told from metadata without reading values; when
   * unsure, a key counts as changed. migrate uses it to verify a copy without reading every value
   * of the source a second time: only the keys changed since the copy began are read again.
   */
  keysChangedSince?(session: string, since: number): AsyncIterable<[type: string, id: string, changed: boolean]>
  /** Optional: run `fn` against one consistent snapshot (backup). */
  snapshot?<T>(fn: (reader: SnapshotReader) => Promise<T>): Promise<T>
  /** Optional: one owner per session, with fencing tokens (see LeaseCapability). */
  lease?: LeaseCapability
  /**
   * Optional: unsafe settings of the backend found when it was opened (e.g. Redis without AOF),
   * each a sentence that says what to change. Reported by doctor, warned once by run and the CLI.
   */
  readonly warnings?: readonly string[]
}

/**
 * Leases: one owner per session at a time, and a fencing token that stops a zombie's writes.
 *
 * Rules every driver follows:
 * - `acquire` grants the lease when nobody holds it, it was released, it expired, or `owner`
 *   already holds it; each grant returns a NEW epoch, greater than every epoch this session
 *   ever had (the counter survives release, expiry, `drop` and restarts). Held by another
 *   live owner: VaultError LEASE_HELD naming that owner's host and pid.
 * - `renew` extends the lease by `ttlMs` from now if `owner` still holds `epoch` (also after
 *   expiry, as long as nobody took it over); otherwise LEASE_LOST.
 * - `release` gives the lease up at once (a standby can take it within one poll). Releasing
 *   a lease that is no longer ours is a no-op: it cannot take another owner's lease away.
 * - A write with `WriteBatch.epoch` lands only if that epoch is the current, unreleased one,
 *   checked in the same atomic write (LEASE_LOST otherwise). Expiry alone does not fence: an
 *   epoch changes only when another owner acquires, and that is what a write checks.
 * - Time: expiry is decided by the backend's clock (PostgreSQL `now()`, Redis `TIME`, SQLite's
 *   clock, i.e. the host sharing the file), never by comparing two hosts' clocks.
 * - `ttlMs` below `minTtlMs` (3x the slowest recent lease round trip, at least a floor) and an
 *   empty owner are INVALID_ARGUMENT.
 * - Owners are strings `host:pid:random` (see leaseOwner()); messages show host and pid.
 */
export interface LeaseCapability {
  /** Smallest TTL accepted now (ms). */
  readonly minTtlMs: number
  acquire(session: string, request: { owner: string; ttlMs: number }): Promise<LeaseGrant>
  renew(session: string, request: { owner: string; epoch: number; ttlMs: number }): Promise<LeaseGrant>
  release(session: string, request: { owner: string; epoch: number }): Promise<void>
  /** Who holds the session's lease (for reporting); undefined when nobody does or it was released. */
  leaseInfo(session: string): Promise<LeaseInfo | undefined>
  /**
   * Optional push channel (PostgreSQL LISTEN/NOTIFY, Redis pub/sub), one connection per store
   * instance: `listener` hears every release of this store's leases and every `announce`, so a
   * standby wakes at once instead of at its next poll. Returns the unsubscribe function.
   */
  watch?(listener: (event: LeaseEvent) => void): () => void
  /** Optional, with `watch`: tells every watcher of the store a short note (fleet presence). */
  announce?(note: string): Promise<void>
  /** True when every process sharing the store runs on this machine (SQLite, file:, memory:): reads are cheap and local. */
  readonly local?: boolean
}

/** What `watch` hears: a released session, or a note someone announced. */
export type LeaseEvent = { released: string } | { note: string }

export interface LeaseGrant {
  session: string
  owner: string
  /** The fencing token: stamp it on every WriteBatch. */
  epoch: number
  ttlMs: number
  /** Set when the grant took over a live-looking lease whose owner is known dead: why (e.g. "pid 12 on this host is gone"). */
  tookOver?: string
}

export interface LeaseInfo {
  owner: string
  epoch: number
  /** By the backend's clock; 0 or less: expired (another owner may take it). */
  expiresInMs: number
  /** Set when the owner's host is this host: whether its pid still exists. */
  ownerAlive?: boolean
}

/** What a snapshot exposes: the read half of the contract. */
export type SnapshotReader = Pick<Driver, 'getCreds' | 'get' | 'list' | 'sessions'>
