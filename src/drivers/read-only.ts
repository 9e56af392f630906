import type { Driver } from '../core/driver.js'
import { VaultError } from '../core/errors.js'
import { IMPORT_SCHEMES } from '../core/url.js'

/** Another project's layout (an importer's URL): baileys-vault reads it and never writes it. */
const isForeign = (label: string) => IMPORT_SCHEMES.includes(label.slice(0, Math.max(0, label.indexOf(':'))).toLowerCase())

/** The refusal of any write to another project's store (an importer's URL), whatever the command. */
export const foreignStoreError = (label: string): VaultError =>
  new VaultError(
    'INVALID_ARGUMENT',
    `${label} is another project's store: baileys-vault only reads it (ls, inspect, doctor, backup, and migrate from it); nothing was written. Move it into a baileys-vault store first, e.g. baileys-vault migrate ${label} sqlite:./baileys.db`
  )

/** The error for a write through a store opened with `readOnly: true`. */
export const readOnlyError = (label: string): VaultError =>
  isForeign(label)
    ? foreignStoreError(label)
    : new VaultError('INVALID_ARGUMENT', `The store ${label} was opened read-only (readOnly: true); nothing was written. Open it without readOnly to write.`)

/** The driver with `write`, `drop` and `rename` refusing: a read-only open must never change the backend. */
export function refuseWrites(driver: Driver, label: string): Driver {
  const refuse = async (): Promise<void> => {
    throw readOnlyError(label)
  }
  return { ...driver, write: refuse, drop: refuse, ...(driver.rename ? { rename: refuse } : {}) }
}
