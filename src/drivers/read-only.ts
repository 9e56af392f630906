import type { Driver } from '../core/driver.js'
import { VaultError } from '../core/errors.js'

/** The error for a write through a store opened with `readOnly: true`. */
export const readOnlyError = (label: string): VaultError =>
  new VaultError('INVALID_ARGUMENT', `The store ${label} was opened read-only (readOnly: true); nothing was written. Open it without readOnly to write.`)

/** The driver with `write`, `drop` and `rename` refusing: a read-only open must never change the backend. */
export function refuseWrites(driver: Driver, label: string): Driver {
  const refuse = async (): Promise<void> => {
    throw readOnlyError(label)
  }
  return { ...driver, write: refuse, drop: refuse, ...(driver.rename ? { rename: refuse } : {}) }
}
