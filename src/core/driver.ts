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
}

export interface ListOptions {
  /** Also yield the stored bytes (tools: migrate, backup, doctor). */
  values?: boolean
}

export type ListEntry = [type: string, id: string, value?: Uint8Array]

export interface DriverCapabilities {
  /**
   * Values are stored as Baileys' own BufferJSON text, without the vault envelope byte,
   * so that Baileys' useMultiFileAuthState can read them (the file driver).
   */
  bareJson?: boolean
  /** `snapshot(fn)` runs reads against one consistent point in time. */
  snapshot?: boolean
  /**
   * `rename(from, to)` moves a whole session (creds and keys) to a new id in one atomic step,
   * refusing when `to` holds data. migrate and restore write into a staging session and
   * rename it, so an interrupted copy is never visible. `canRename` may exclude some sessions.
   */
  rename?: boolean
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
  /** Remove a session and all its keys, atomically. */
  drop(session: string): Promise<void>
  /** Optional (capability `rename`): atomic move of a session; throws if `to` has data. */
  rename?(from: string, to: string): Promise<void>
  /** Optional: false for sessions `rename` cannot move (file: the root folder). Default: all. */
  canRename?(from: string, to: string): boolean
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
  /** Optional: run `fn` against one consistent snapshot (backup). */
  snapshot?<T>(fn: (reader: SnapshotReader) => Promise<T>): Promise<T>
}

/** What a snapshot exposes: the read half of the contract. */
export type SnapshotReader = Pick<Driver, 'getCreds' | 'get' | 'list' | 'sessions'>
