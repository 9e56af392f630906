import type { AuthenticationCreds } from '@whiskeysockets/baileys'
import type { Driver, ListEntry } from '../core/driver.js'
import { VaultError, invalidArgument } from '../core/errors.js'
import { makeAuthState, type AuthStateOptions, type VaultAuthState } from '../auth/auth-state.js'
import { assertKeyId, assertKeyType, assertSessionId } from './validate.js'
import type { ValueCodec } from './value-codec.js'
import type { WriteQueue } from '../auth/write-queue.js'
import { readOnlyError } from '../drivers/read-only.js'

/** Decoded values for one atomic write (null/undefined deletes). */
export interface ValueBatch {
  creds?: AuthenticationCreds
  set?: Array<[type: string, id: string, value: unknown]>
  del?: Array<[type: string, id: string]>
}

/**
 * A Store is a driver plus the codec (and, when configured, encryption). Every driver call
 * goes through `guard`, the one place where backend errors become VaultErrors.
 */
export class Store {
  private closed = false
  private closing?: Promise<void>
  /** Write queues of the auth states opened on this store: close() lets them finish first. */
  private readonly writeQueues = new Set<WriteQueue>()

  constructor(
    readonly driver: Driver,
    readonly codec: ValueCodec,
    /** The store URL with any password redacted, for messages. */
    readonly label: string,
    private readonly authDefaults: AuthStateOptions = {},
    /** readOnly: every write and drop is refused before it reaches the driver (see OpenStoreOptions). */
    readonly access: { readOnly: boolean } = { readOnly: false }
  ) {}

  /** Baileys' `{ state, saveCreds }` for one WhatsApp account in this store. */
  async useAuthState(sessionId: string, options: AuthStateOptions = {}): Promise<VaultAuthState> {
    assertSessionId(sessionId)
    return makeAuthState(this, sessionId, { ...this.authDefaults, ...options })
  }

  /** Decoded creds, or undefined for a session that was never saved. Damaged creds throw CORRUPT_DATA. */
  async readCreds(session: string): Promise<AuthenticationCreds | undefined> {
    assertSessionId(session)
    const bytes = await this.guard('reading creds', session, () => this.driver.getCreds(session))
    return bytes && this.codec.decodeCreds(bytes, session)
  }

  /** Raw stored bytes of many keys of one type (one driver round trip). */
  async readRaw(session: string, type: string, ids: readonly string[]): Promise<Map<string, Uint8Array>> {
    // Checked here, not per driver: a number id was found on sqlite and refused on file:.
    if (!Array.isArray(ids)) throw invalidArgument(`Key ids for type "${type}" must be an array of strings; got ${typeof ids}.`)
    for (const id of ids) assertKeyId(type, id)
    return this.guard('reading keys', session, () => this.driver.get(session, type, ids))
  }

  /** Decoded keys of one type; missing ids are absent. */
  async readKeys(session: string, type: string, ids: readonly string[]): Promise<Map<string, any>> {
    assertSessionId(session)
    assertKeyType(type)
    const raw = await this.readRaw(session, type, ids)
    const out = new Map<string, any>()
    for (const [id, bytes] of raw) out.set(id, this.codec.decode(bytes, session, type, id))
    return out
  }

  /** One atomic, durable write of decoded values. */
  async write(session: string, batch: ValueBatch): Promise<void> {
    assertSessionId(session)
    const set: Array<[string, string, Uint8Array]> = []
    const del: Array<[string, string]> = [...(batch.del ?? [])]
    for (const [type, id, value] of batch.set ?? []) {
      assertKeyType(type)
      assertKeyId(type, id)
      if (value === null || value === undefined) del.push([type, id])
      else set.push([type, id, this.codec.encode(value, session, type, id)])
    }
    for (const [type, id] of del) {
      assertKeyType(type)
      assertKeyId(type, id)
    }
    const creds = batch.creds === undefined ? undefined : this.codec.encode(batch.creds, session)
    await this.writeRaw(session, { creds, set, del })
  }

  /** One atomic write of already-encoded bytes (the auth state and tools use this). */
  async writeRaw(session: string, batch: Parameters<Driver['write']>[1]): Promise<void> {
    if (this.access.readOnly) throw readOnlyError(this.label)
    await this.guard('writing', session, () => this.driver.write(session, batch))
  }

  /** Keys of a session (optionally one type), with decoded values if asked. */
  async *listKeys(session: string, type?: string, options: { values?: boolean } = {}): AsyncIterable<[type: string, id: string, value?: any]> {
    assertSessionId(session)
    if (type !== undefined) assertKeyType(type)
    for await (const [t, id, bytes] of this.guardIterable('listing keys', session, this.driver.list(session, type, options))) {
      yield options.values ? [t, id, this.codec.decode(bytes!, session, t, id)] : [t, id]
    }
  }

  /** Raw listing for tools that copy bytes (type, id, stored bytes). */
  listRaw(session: string, type?: string): AsyncIterable<ListEntry> {
    return this.guardIterable('listing keys', session, this.driver.list(session, type, { values: true }))
  }

  /** Every session id in this store. */
  sessions(): AsyncIterable<string> {
    return this.guardIterable('listing sessions', undefined, this.driver.sessions())
  }

  /** Removes a session and all its keys. */
  async drop(session: string): Promise<void> {
    assertSessionId(session)
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

  /** Registers an auth state's write queue (see close). */
  trackWrites(queue: WriteQueue): void {
    this.writeQueues.add(queue)
  }

  /** Runs a driver call; backend failures become BACKEND_UNAVAILABLE, VaultErrors pass through. */
  async guard<T>(action: string, session: string | undefined, fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new VaultError('INVALID_ARGUMENT', `Store ${this.label} is closed; open it again with openStore().`)
    try {
      return await fn()
    } catch (err) {
      throw this.wrap(err, action, session)
    }
  }

  private async *guardIterable<T>(action: string, session: string | undefined, source: AsyncIterable<T>): AsyncIterable<T> {
    try {
      yield* source
    } catch (err) {
      throw this.wrap(err, action, session)
    }
  }

  private wrap(err: unknown, action: string, session: string | undefined): VaultError {
    if (err instanceof VaultError) return err
    const what = session === undefined ? '' : ` session "${session}"`
    const detail = err instanceof Error ? err.message : String(err)
    // A refusal by the file system or the server is not an outage: retrying will not help.
    const next = isPermissionDenied(err)
      ? 'permission denied: check that this user may write the store (file and folder modes, or the database role\'s rights); read-only commands work without it.'
      : 'retry when the backend is reachable.'
    return new VaultError('BACKEND_UNAVAILABLE', `The ${this.driver.kind} store ${this.label} failed while ${action}${what}: ${detail}. Nothing was reported as saved; ${next}`, { cause: err })
  }
}

/** EACCES/EPERM/EROFS (files), 42501 insufficient_privilege (PostgreSQL), NOPERM (Redis ACL). */
const isPermissionDenied = (err: unknown): boolean => {
  const code = (err as { code?: string })?.code
  return code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === '42501' || /^NOPERM\b/.test((err as Error)?.message ?? '')
}
