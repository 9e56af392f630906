import assert from 'node:assert/strict'
import { initAuthCreds } from '../../core/baileys.js'
import { AuthStore } from '../../auth/auth-store.js'
import { isVaultError } from '../../core/errors.js'
import { plainCodec } from '../../store/value-codec.js'
import type { SuiteContext } from '../harness.js'

/** The store layer (auth state) on this driver: what holds whatever the driver is. */
export function storeLayer(ctx: SuiteContext): void {
  const { it } = ctx.runner

  it('keys.get with ids that are not strings is INVALID_ARGUMENT at the store layer, whatever the driver', async () => {
    const d = ctx.driver()
    const s = ctx.sid('ids')
    // Not closed: closing the store would close the suite's driver.
    const store = new AuthStore(d, plainCodec(!!d.capabilities.bareJson), `${d.kind}:conformance`, { readOnly: false })
    await store.write(s, { creds: initAuthCreds(), set: [['pre-key', '5', { keyId: 5 }]] })
    const { state } = await store.useAuthState(s)
    const invalid = (e: unknown) => isVaultError(e, 'INVALID_ARGUMENT') && /Key id/.test(e.message)
    for (const ids of [[5], [null], [{}], ['5', 5], [['5']]])
      await assert.rejects(state.keys.get('pre-key', ids as unknown as string[]), invalid, JSON.stringify(ids))
    await assert.rejects(store.readRaw(s, 'pre-key', '5' as unknown as string[]), (e: unknown) => isVaultError(e, 'INVALID_ARGUMENT'))
    assert.deepEqual(await state.keys.get('pre-key', ['5']), { '5': { keyId: 5 } })
  })
}
