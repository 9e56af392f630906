import type { Driver } from '../core/driver.js'
import type { TestRunner } from './runner.js'

/**
 * Reads the backend directly (SQL, Redis commands, files), bypassing the driver, so the
 * suite checks what really landed and not only what the driver says.
 */
export interface RawReader {
  creds(session: string): Promise<Uint8Array | undefined>
  key(session: string, type: string, id: string): Promise<Uint8Array | undefined>
  /** Number of keys stored for the session (all types). */
  countKeys(session: string): Promise<number>
}

export interface DriverHarness {
  /** Opens a driver on the suite's backend; called several times: each must see the same data. */
  open(): Promise<Driver>
  /**
   * Optional: opens a read-only driver (`readOnly: true`) on the same backend. When given, the
   * suite checks that it reads what was written and refuses every change, leaving the backend
   * as it was.
   */
  openReadOnly?(): Promise<Driver>
  raw: RawReader
  /** Whether the driver offers consistent snapshots (checked either way). */
  snapshot: boolean
  /** Whether the driver offers leases (checked either way); default true. */
  lease?: boolean
  /** Removes the backend's data after the suite. */
  cleanup?(): Promise<void>
}

/** What every behaviour group of the suite shares: the runner, the harness and the open driver. */
export interface SuiteContext {
  readonly runner: TestRunner
  readonly harness: () => DriverHarness
  /** The suite's open driver (reopened by the persistence tests). */
  driver(): Driver
  reopen(): Promise<Driver>
  /** A session id of its own for each test, so tests never depend on each other's leftovers. */
  sid(label: string): string
}
