import type { AuthenticationCreds } from '../core/baileys.js'
import type { Driver, LeaseCapability, LeaseEvent, LeaseGrant, LeaseInfo, ListEntryWithValue, SnapshotReader } from '../core/driver.js'
import { must } from '../core/defined.js'
import { VaultError, invalidArgument } from '../core/errors.js'
import { assertKeyId, assertKeyType, assertSessionId, isStagingSession } from './validate.js'
import type { ValueCodec } from './value-codec.js'
import { readOnlyError } from '../drivers/read-only.js'
import type { StoredValue } from '../codec/stored-value.js'

/** Store methods accept the staging sessions of migrate/restore; useAuthState does not. */
const STAGING_OK = { staging: true }

/** Decoded values for one atomic write (null/undefined deletes). */
export interface ValueBatch {
  creds?: AuthenticationCreds
  set?: Array<[type: string, id: string, value: unknown]>
  del?: Array<[type: string, id: string]>
  /** Fencing token of the lease this write is made under (see WriteBatch.epoch). */
  epoch?: number
  /** A step of a hidden copy (see WriteBatch.copy; only where canHideCopies). */
  copy?: 'begin' | 'end'
}

/** What to do once a write's outcome is known (see Store.writeRaw). */
export interface WriteSettle {
  committed(): void
  failed(err: VaultError): void
}

/** Told of every write's duration and of every failed store operation (metrics; no values). */
export interface StoreObserver {
  /** `session`: whose write committed (the runtime clears a session's store problem on it). */
  write?(event: { driver: string; seconds: number; session: string }): void
  /** `session` when the operation was one session's; `error` is secret-free (its message names the store, redacted). */
  error?(event: { driver: string; code: string; session?: string; error: VaultError }): void
}

/**
 * A Store is a driver plus the codec (and, when configured, encryption). Every driver call
 * goes through `guard`, the one place where backend errors become VaultErrors. Internal members
 * (the driver, codec, guard) serve the package's own layers (auth state, tools) and are left out of the
 * published types: create stores with openStore().
 */
export class Store {
  private closed = false
  private closing?: Promise<void>
  /** Write queues of the auth states opened on this store: close() lets them finish first. */
  private readonly writeQueues = new Set<{ drain(): Promise<void> }>()
  private readonly observers = new Set<StoreObserver>()

  /** @internal */
  constructor(
    /** The backend: every call goes through guard (this class is the one error boundary). */
    private readonly driver: Driver,
    /** Values <-> stored bytes (and sealing); the methods below open it to the tools without handing it out. */
    private readonly codec: ValueCodec,
    /** The store URL with any password redacted, for messages. */
    readonly label: string,
    /** readOnly: every write and drop is refused before it reaches the driver (see OpenStoreOptions). */
    readonly access: { readOnly: boolean } = { readOnly: false }
  ) {}

  /**
   * @internal The driver and codec behind a store, for the auth state and the retry store only
   * (test/package/layers.test.ts fails on any other caller): everything else uses the methods below.
   */
  static internals(store: Store): { driver: Driver; codec: ValueCodec } {
    return { driver: store.driver, codec: store.codec }
  }

  /** The backend this store runs on ('sqlite', 'postgres', …), for messages and metrics. */
  get kind(): string {
    return this.driver.kind
  }

  /** @internal The driver commits each write in call order before it returns (DriverCapabilities). */
  get commitsOnCall(): boolean {
    return !!this.driver.capabilities.commitsOnCall
  }

  /** @internal The driver takes a set entry's bytes as DeferredBytes (DriverCapabilities.deferredBytes). */
  get defersBytes(): boolean {
    return !!this.driver.capabilities.deferredBytes
  }

  /** Decoded creds, or undefined for a session that was never saved. Damaged creds throw CORRUPT_DATA. */
  async readCreds(session: string): Promise<AuthenticationCreds | undefined> {
    const bytes = await this.readRawCreds(session)
    return bytes && this.codec.decodeCreds(bytes, session)
  }

  /** Stored creds bytes as they are (sealed when encrypted), or undefined: for tools that check or copy without decoding. */
  async readRawCreds(session: string): Promise<Uint8Array | undefined> {
    assertSessionId(session, STAGING_OK)
    return this.guard('reading creds', session, () => this.driver.getCreds(session))
  }

  /** The backup file the creds were read from (the main file missing or unreadable), else undefined. */
  async credsFromBackup(session: string): Promise<string | undefined> {
    assertSessionId(session, STAGING_OK)
    const driver = this.driver
    return driver.credsFromBackup && this.guard('reading creds', session, () => driver.credsFromBackup!(session))
  }

  /** Whether the session has creds saved (a linked or linking account, not just leftover keys). */
  async hasCreds(session: string): Promise<boolean> {
    return (await this.readRawCreds(session)) !== undefined
  }

  /** Raw stored bytes of many keys of one type (one driver round trip). */
  async readRaw(session: string, type: string, ids: readonly string[]): Promise<Map<string, Uint8Array>> {
    // Checked here, not per driver: a number id was found on sqlite and refused on file:.
    if (!Array.isArray(ids)) throw invalidArgument(`Key ids for type "${type}" must be an array of strings; got ${typeof ids}.`)
    for (const id of ids) assertKeyId(type, id)
    return this.guard('reading keys', session, () => this.driver.get(session, type, ids))
  }

  /** Decoded keys of one type; missing ids are absent. */
  async readKeys(session: string, type: string, ids: readonly string[]): Promise<Map<string, StoredValue>> {
    assertSessionId(session, STAGING_OK)
    assertKeyType(type)
    const raw = await this.readRaw(session, type, ids)
    const out = new Map<string, StoredValue>()
    for (const [id, bytes] of raw) out.set(id, this.codec.decode(bytes, session, type, id))
    return out
  }

  /**
   * One atomic, durable write of decoded values. `sealedFor`: encrypt for this session id
   * instead (a staging session's values are bound to the session it will be renamed to).
   */
  async write(session: string, batch: ValueBatch, options: { sealedFor?: string } = {}): Promise<void> {
    assertSessionId(session, STAGING_OK)
    const owner = options.sealedFor ?? session
    const set: Array<[string, string, Uint8Array]> = []
    const del: Array<[string, string]> = [...(batch.del ?? [])]
    for (const [type, id, value] of batch.set ?? []) {
      assertKeyType(type)
      assertKeyId(type, id)
      if (value === null || value === undefined) del.push([type, id])
      else set.push([type, id, this.codec.encode(value, owner, type, id)])
    }
    for (const [type, id] of del) {
      assertKeyType(type)
      assertKeyId(type, id)
    }
    const creds = batch.creds === undefined ? undefined : this.codec.encode(batch.creds, owner)
    await this.writeRaw(session, { creds, set, del, epoch: batch.epoch, ...(batch.copy ? { copy: batch.copy } : {}) })
  }

  /**
   * One atomic write of already-encoded bytes (the auth state and tools use this). `settle`
   * runs in the same handler as the error mapping, once the outcome is known (`failed` gets the
   * VaultError, which the returned promise then rejects with): one promise per write instead
   * of one per layer.
   */
  writeRaw(session: string, batch: Parameters<Driver['write']>[1], settle?: WriteSettle): Promise<void> {
    if (this.access.readOnly) return rejected(readOnlyError(this.label), settle)
    if (batch.copy && !this.canHideCopies)
      return rejected(
        invalidArgument(`The ${this.driver.kind} store ${this.label} cannot hide a copy in progress; copy into a staging session instead.`),
        settle
      )
    return this.guard('writing', session, () => this.driver.write(session, batch), this.observers.size > 0 ? this.timed(settle, session) : settle)
  }

  /** `settle` that also tells the observers how long a committed write took (in the same handler). */
  private timed(settle: WriteSettle | undefined, session: string): WriteSettle {
    const started = performance.now()
    return {
      committed: () => {
        settle?.committed()
        for (const o of this.observers) o.write?.({ driver: this.driver.kind, seconds: (performance.now() - started) / 1000, session })
      },
      failed: err => settle?.failed(err)
    }
  }

  /** Registers an observer of write timings and failures (the runtime's metrics); returns its removal. */
  observe(observer: StoreObserver): () => void {
    this.observers.add(observer)
    return () => this.observers.delete(observer)
  }

  /** Keys of a session (optionally one type), with decoded values if asked. */
  async *listKeys(session: string, type?: string, options: { values?: boolean } = {}): AsyncIterable<[type: string, id: string, value?: StoredValue]> {
    assertSessionId(session, STAGING_OK)
    if (type !== undefined) assertKeyType(type)
    for await (const [t, id, bytes] of this.guardIterable('listing keys', session, this.driver.list(session, type, options))) {
      yield options.values ? [t, id, this.codec.decode(must(bytes, 'a driver lists the values it is asked for (Driver.list)'), session, t, id)] : [t, id]
    }
  }

  /**
   * Takes the session's lease (LEASE_HELD if another live owner has it). Pass the grant to
   * useAuthState(id, { lease }) so every write is fenced by its epoch; renew at ttl/3.
   */
  async acquireLease(session: string, request: { owner: string; ttlMs: number }): Promise<LeaseGrant> {
    assertSessionId(session)
    // Taking a lease writes to the backend, and a read-only open never does.
    if (this.access.readOnly) throw readOnlyError(this.label)
    return this.guard('acquiring the lease of', session, () => this.leases().acquire(session, request))
  }

  /** Extends the lease by its TTL (or `ttlMs`); LEASE_LOST once another owner took it over. */
  async renewLease(lease: LeaseGrant, options: { ttlMs?: number } = {}): Promise<LeaseGrant> {
    return this.guard('renewing the lease of', lease.session, () => this.leases().renew(lease.session, { ...lease, ttlMs: options.ttlMs ?? lease.ttlMs }))
  }

  /** Gives the lease up now, so a standby takes over at once; a no-op if it is no longer ours. */
  async releaseLease(lease: LeaseGrant): Promise<void> {
    await this.guard('releasing the lease of', lease.session, () => this.leases().release(lease.session, lease))
  }

  /** Unsafe backend settings found at open (see Driver.warnings), each saying what to change. */
  warnings(): readonly string[] {
    return this.driver.warnings ?? []
  }

  /** Who holds a session's lease (for reports); undefined when nobody does. */
  async leaseInfo(session: string): Promise<LeaseInfo | undefined> {
    assertSessionId(session)
    return this.guard('reading the lease of', session, () => this.leases().leaseInfo(session))
  }

  /** Lease events (releases, announced notes) when the backend pushes them; undefined when it cannot (poll instead). */
  watchLeases(listener: (event: LeaseEvent) => void): (() => void) | undefined {
    return this.driver.lease?.watch?.(listener)
  }

  /** Tells every watcher of this store a short note (fleet presence); false when the backend has no push channel. */
  async announceLease(note: string): Promise<boolean> {
    const announce = this.driver.lease?.announce
    if (!announce) return false
    await this.guard('announcing on', undefined, () => announce(note))
    return true
  }

  /** True when every process sharing the store runs on this machine (SQLite, file:, memory:): a lease read is cheap. */
  get leasesLocal(): boolean {
    return this.driver.lease?.local === true
  }

  private leases(): LeaseCapability {
    if (!this.driver.lease) throw invalidArgument(`The ${this.driver.kind} store does not support leases.`)
    return this.driver.lease
  }

  /** Another project's layout read by an importer (DriverCapabilities.foreign): migrate checks a whole session before copying it. */
  get foreign(): boolean {
    return !!this.driver.capabilities.foreign
  }

  /** Whether the backend keeps leases (one owner per session, with fencing). */
  get supportsLeases(): boolean {
    return !!this.driver.lease
  }

  /** The shortest lease TTL the backend honours (ms; 0 when it has no floor). */
  get minLeaseTtlMs(): number {
    return this.driver.lease?.minTtlMs ?? 0
  }

  /** Whether `snapshot` reads one consistent point in time (a backup of a running bot). */
  get canSnapshot(): boolean {
    return !!(this.driver.capabilities.snapshot && this.driver.snapshot)
  }

  /** Runs `fn` against one consistent snapshot of the store (see canSnapshot). */
  snapshot<T>(fn: (reader: SnapshotReader) => Promise<T>): Promise<T> {
    const snapshot = this.driver.snapshot
    if (!this.canSnapshot || !snapshot) return Promise.reject(invalidArgument(`The ${this.driver.kind} store ${this.label} has no consistent snapshots.`))
    return this.guard('reading a snapshot of', undefined, () => snapshot.call(this.driver, fn) as Promise<T>)
  }

  /** Keys per type of a session (ids only, no values read): sizes a job before it starts. */
  async countKeys(session: string): Promise<Record<string, number>> {
    assertSessionId(session, STAGING_OK)
    const driver = this.driver
    if (driver.countKeys) return this.guard('counting keys', session, () => driver.countKeys!(session))
    const counts: Record<string, number> = {}
    for await (const [type] of this.listKeys(session)) counts[type] = (counts[type] ?? 0) + 1
    return counts
  }

  /** Files in a session's place that the store does not own and never touches (see Driver.ignoredFiles). */
  async ignoredFiles(session: string): Promise<string[]> {
    const driver = this.driver
    if (!driver.ignoredFiles) return []
    return this.guard('listing ignored files', session, async () => {
      const out: string[] = []
      for await (const name of driver.ignoredFiles!(session)) out.push(name)
      return out
    })
  }

  /** Whether a read-only open found an interrupted atomic batch that a read-write open completes (see Driver.unfinishedBatch). */
  async unfinishedBatch(session: string): Promise<boolean> {
    const driver = this.driver
    if (!driver.unfinishedBatch) return false
    return this.guard('checking for an unfinished batch', session, () => driver.unfinishedBatch!(session))
  }

  /** The id of the key new values are sealed with; undefined for a plaintext store. */
  get currentKeyId(): string | undefined {
    return this.codec.currentKeyId
  }

  /** Whether a sealing key id names the current key, an old one, or none configured (judged by the key's bytes). */
  keyState(keyId: string): ReturnType<ValueCodec['keyState']> {
    return this.codec.keyState(keyId)
  }

  /** This store's codec when it seals values (backups sealed like the store), else undefined. */
  sealer(): ValueCodec | undefined {
    return this.codec.currentKeyId ? this.codec : undefined
  }

  /** How stored bytes are protected: plain, or sealed under a key id (never the value itself). */
  protectionOf(bytes: Uint8Array): ReturnType<ValueCodec['protection']> {
    return this.codec.protection(bytes)
  }

  /** Stored bytes of a key (as readRaw/listRaw give them) decoded; damaged bytes throw CORRUPT_DATA. */
  decodeValue(bytes: Uint8Array, location: { session: string; type: string; id: string }): StoredValue {
    return this.codec.decode(bytes, location.session, location.type, location.id)
  }

  /** Stored creds bytes (as readRawCreds gives them) decoded. */
  decodeCreds(bytes: Uint8Array, session: string): StoredValue {
    return this.codec.decodeCreds(bytes, session)
  }

  /** A value encoded (and sealed when encrypted) for its place, as a write would store it. */
  encodeValue(value: unknown, location: { session: string; type: string; id: string }): Uint8Array {
    return this.codec.encode(value, location.session, location.type, location.id)
  }

  /** Bulk-tool fast path (see ValueCodec.body): stored bytes opened to their BufferJSON text. */
  valueBody(bytes: Uint8Array, location: { session: string; type?: string; id?: string }): Buffer {
    return this.codec.body(bytes, location.session, location.type, location.id)
  }

  /** Parses a text from valueBody exactly as decodeValue would. */
  decodeBody(body: Buffer, location: { session: string; type?: string; id?: string }): StoredValue {
    return this.codec.decodeBody(body, location.session, location.type, location.id)
  }

  /** Stores a text from another store's valueBody as this store would store the same value. */
  encodeBody(body: Uint8Array, location: { session: string; type?: string; id?: string }): Uint8Array {
    return this.codec.encodeBody(body, location.session, location.type, location.id)
  }

  /** Raw listing for tools that copy bytes (type, id, stored bytes); `checkJson`: see ListOptions. */
  async *listRaw(session: string, type?: string, options: { checkJson?: boolean } = {}): AsyncIterable<ListEntryWithValue> {
    const listing = this.driver.list(session, type, { values: true, checkJson: options.checkJson })
    for await (const [t, id, bytes] of this.guardIterable('listing keys', session, listing))
      yield [t, id, must(bytes, 'a driver lists the values it is asked for (Driver.list)')]
  }

  /** Whether keysChangedSince can tell changed keys from metadata (migrate then verifies only those again). */
  get tracksChanges(): boolean {
    return !!this.driver.keysChangedSince
  }

  /**
   * Keys with whether each may have changed since `since` (see Driver.keysChangedSince), or
   * undefined when the driver cannot tell.
   */
  keysChangedSince(session: string, since: number): AsyncIterable<[type: string, id: string, changed: boolean]> | undefined {
    if (!this.driver.keysChangedSince) return undefined
    return this.guardIterable('listing changed keys', session, this.driver.keysChangedSince(session, since))
  }

  /** Every session id in this store (not the staging sessions of migrate/restore). */
  async *sessions(): AsyncIterable<string> {
    for await (const s of this.guardIterable('listing sessions', undefined, this.driver.sessions())) if (!isStagingSession(s)) yield s
  }

  /** Leftover staging sessions: copies by migrate/restore that were interrupted (drop removes them). */
  async *stagingSessions(): AsyncIterable<string> {
    for await (const s of this.guardIterable('listing sessions', undefined, this.driver.sessions())) if (isStagingSession(s)) yield s
  }

  /** Whether a copy into a new session can be written in place, hidden until complete (WriteBatch.copy). */
  get canHideCopies(): boolean {
    return !!this.driver.capabilities.hiddenCopy && !!this.driver.hiddenCopies
  }

  /** Sessions holding an unfinished copy written in place (see canHideCopies; drop removes them). */
  async *hiddenCopies(): AsyncIterable<string> {
    if (this.driver.hiddenCopies) yield* this.guardIterable('listing sessions', undefined, this.driver.hiddenCopies())
  }

  /** Whether `rename(from, to)` is one atomic step on this store's driver. */
  canRename(from: string, to: string): boolean {
    return !!this.driver.capabilities.rename && !!this.driver.rename && (this.driver.canRename?.(from, to) ?? true)
  }

  /** Moves a whole session to a new id atomically; refuses when `to` holds data. See canRename. */
  async rename(from: string, to: string): Promise<void> {
    assertSessionId(from, STAGING_OK)
    assertSessionId(to, STAGING_OK)
    if (this.access.readOnly) throw readOnlyError(this.label)
    if (!this.canRename(from, to))
      throw new VaultError('INVALID_ARGUMENT', `The ${this.driver.kind} store ${this.label} cannot rename session "${from}" to "${to}" atomically.`)
    await this.guard('renaming', from, () => this.driver.rename!(from, to))
  }

  /** Removes a session and all its keys. */
  async drop(session: string): Promise<void> {
    assertSessionId(session, STAGING_OK)
    if (this.access.readOnly) throw readOnlyError(this.label)
    await this.guard('dropping', session, () => this.driver.drop(session))
  }

  /**
   * Closes the backend after every write already handed to an auth state has landed: Baileys
   * may still be committing keys when a bot shuts down, and those writes must not be cut off.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const queue of this.writeQueues) await queue.drain()
      this.closed = true
      await this.driver.close()
    })()
    return this.closing
  }

  /** @internal Registers an auth state's write queue (see close). */
  trackWrites(queue: { drain(): Promise<void> }): void {
    this.writeQueues.add(queue)
  }

  /**
   * Runs a driver call; backend failures become BACKEND_UNAVAILABLE, VaultErrors pass through.
   * Not an async function: on the write path every promise layer is a microtask turn (profiled).
   */
  private guard<T>(action: string, session: string | undefined, fn: () => Promise<T>, settle?: WriteSettle): Promise<T> {
    if (this.closed) return rejected(new VaultError('INVALID_ARGUMENT', `Store ${this.label} is closed; open it again with openStore().`), settle)
    let running: Promise<T>
    try {
      running = fn()
    } catch (err) {
      return rejected(this.failed(this.wrap(err, action, session), session), settle)
    }
    const committed = settle?.committed
    return Promise.resolve(running).then(
      committed &&
        (value => {
          committed()
          return value
        }),
      err => {
        const error = this.failed(this.wrap(err, action, session), session)
        settle?.failed(error)
        throw error
      }
    )
  }

  /** Tells the observers of a failure, then hands the error back to be thrown. */
  private failed(err: VaultError, session: string | undefined): VaultError {
    for (const o of this.observers) o.error?.({ driver: this.driver.kind, code: err.code, session, error: err })
    return err
  }

  private async *guardIterable<T>(action: string, session: string | undefined, source: AsyncIterable<T>): AsyncIterable<T> {
    try {
      yield* source
    } catch (err) {
      throw this.failed(this.wrap(err, action, session), session)
    }
  }

  private wrap(err: unknown, action: string, session: string | undefined): VaultError {
    if (err instanceof VaultError) return err
    const what = session === undefined ? '' : ` session "${session}"`
    const detail = err instanceof Error ? err.message : String(err)
    // A refusal by the file system or the server is not an outage: retrying will not help.
    const next = isPermissionDenied(err)
      ? "permission denied: check that this user may write the store (file and folder modes, or the database role's rights); read-only commands work without it."
      : 'retry when the backend is reachable.'
    return new VaultError(
      'BACKEND_UNAVAILABLE',
      `The ${this.driver.kind} store ${this.label} failed while ${action}${what}: ${detail}. Nothing was reported as saved; ${next}`,
      { cause: err }
    )
  }
}

/** A write refused before it reached the driver: `settle` still learns of it in a later turn, as of any outcome. */
function rejected<T>(err: VaultError, settle: WriteSettle | undefined): Promise<T> {
  const refused = Promise.reject(err)
  return settle
    ? refused.then(undefined, (e: VaultError) => {
        settle.failed(e)
        throw e
      })
    : refused
}

/** EACCES/EPERM/EROFS (files), 42501 insufficient_privilege (PostgreSQL), NOPERM (Redis ACL). */
const isPermissionDenied = (err: unknown): boolean => {
  const code = (err as { code?: string })?.code
  return code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === '42501' || /^NOPERM\b/.test((err as Error)?.message ?? '')
}
