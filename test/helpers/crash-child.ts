/**
 * Child process of the crash suite: drives Signal traffic on a store until it is SIGKILLed.
 * argv: <store url>; env VAULT_CRASH_OPTIONS: serialised OpenStoreOptions; VAULT_CRASH_PAIRS: conversations.
 */
import { openStore } from '../../src/open-store.js'
import { decodeOptions, oneRound, openPair } from './crash-conversation.js'

const url = process.argv[2]
if (url === undefined) throw new Error('usage: crash-child <store url>')
const store = await openStore(url, decodeOptions(process.env.VAULT_CRASH_OPTIONS))
// VAULT_CRASH_PAIRS > 1: the gateway pattern, many conversations at once (group commits in flight).
const pairs = await Promise.all(Array.from({ length: Number(process.env.VAULT_CRASH_PAIRS ?? 1) }, (_, pair) => openPair(store, pair)))
process.stdout.write('ready\n')
await Promise.all(
  pairs.map(async ({ a, b }) => {
    for (let n = 0; ; n++) {
      await oneRound(a, b, n)
      process.stdout.write(`round ${n}\n`)
    }
  })
)
