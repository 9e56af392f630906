/**
 * Child process of the crash suite: drives Signal traffic on a store until it is SIGKILLed.
 * argv: <store url>; env VAULT_CRASH_OPTIONS: serialised OpenStoreOptions.
 */
import { openStore } from '../../src/open-store.js'
import { decodeOptions, oneRound, openPair } from './crash-conversation.js'

const store = await openStore(process.argv[2], decodeOptions(process.env.VAULT_CRASH_OPTIONS))
const { a, b } = await openPair(store)
process.stdout.write('ready\n')
for (let n = 0; ; n++) {
  await oneRound(a, b, n)
  process.stdout.write(`round ${n}\n`)
}
