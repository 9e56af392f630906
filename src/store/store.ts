import type { AuthenticationCreds } from '@whiskeysockets/baileys'
import type { Driver, LeaseCapability, LeaseGrant, LeaseInfo, ListEntry } from '../core/driver.js'
import { VaultError, invalidArgument } from '../core/errors.js'
import { makeAuthState, type AuthStateOptions, type VaultAuthState } from '../auth/auth-state.js'
import { assertKeyId, assertKeyType, assertSessionId } from './validate.js'
import type { ValueCodec } from './value-codec.js'
import type { WriteQueue } from '../auth/write-queue.js'

/** Decoded values for one atomic write (null/undefined deletes). */
export interface ValueBatch {
  creds?: AuthenticationCreds
  set?: Array<[type: string, id: string, value: unknown]>
  del?: Array<[type: string, id: string]>
  /** Fencing token of the lease this write is made under (see WriteBatch.epoch). */
  epoch?: number
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
    private readonly authDefaults: AuthStateOptions = {}
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
    await this.writeRaw(session, { creds, set, del, epoch: batch.epoch })
  }

  /** One atomic write of already-encoded bytes (the auth state and tools use this). */
  async writeRaw(session: string, batch: Parameters<Driver['write']>[1]): Promise<void> {
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

  /**
   * Takes the session's lease (LEASE_HELD if another live owner has it). Pass the grant to
   * useAuthState(id, { lease }) so every write is fenced by its epoch; renew at ttl/3.
   */
  async acquireLease(session: string, request: { owner: string; ttlMs: number }): Promise<LeaseGrant> {
    assertSessionId(session)
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

  /** Who holds a session's lease (for reports); undefined when nobody does. */
  async leaseInfo(session: string): Promise<LeaseInfo | undefined> {
    assertSessionId(session)
    return this.guard('reading the lease of', session, () => this.leases().leaseInfo(session))
  }

  private leases(): LeaseCapability {
    if (!this.driver.lease) throw invalidArgument(`The ${this.driver.kind} store does not support leases.`)
    return this.driver.lease
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
    return new VaultError(
      'BACKEND_UNAVAILABLE',
      `The ${this.driver.kind} store ${this.label} failed while ${action}${what}: ${detail}. Nothing was reported as saved; retry when the backend is reachable.`,
      { cause: err }
    )
  }
}
