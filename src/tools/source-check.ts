import { checkBody } from '../codec/values.js'
import { VaultError } from '../core/errors.js'
import type { Store } from '../store/store.js'
import { assertKeyId, assertKeyType } from '../store/validate.js'

/**
 * Reads a whole session of a foreign source (an importer: another project's layout) and checks
 * that every key and the creds decode, before migrate writes anything: a damaged row then stops
 * the migration with nothing written to the target (the error names the row, never its value).
 * Our own stores are checked as they are copied instead, saving a pass.
 */
export async function checkForeignSession(from: Store, session: string): Promise<void> {
  try {
    for await (const [type, id, bytes] of from.listRaw(session)) {
      assertKeyType(type)
      assertKeyId(type, id)
      checkBody(from.valueBody(bytes, { session, type, id }), session, type, id)
    }
    await from.readCreds(session)
  } catch (err) {
    if (!(err instanceof VaultError)) throw err
    throw new VaultError(err.code, `${err.message} (read from ${from.label}; migrate wrote nothing to the target.)`, { cause: err })
  }
}
