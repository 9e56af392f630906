import { openStore } from '../src/open-store.js'
import { signalOf } from './signal.js'
import { childSpec } from './util.js'

/**
 * Child of the many-accounts workload: a process holding N open accounts. Prints RSS and heap
 * growth (bytes) after each account decrypted its first message, then after each read all
 * its keys (what a busy session could pull into its read cache).
 */
const spec = childSpec()
const gc = (globalThis as any).gc as () => void
const measure = () => {
  gc()
  gc()
  return { rss: process.memoryUsage.rss(), heap: process.memoryUsage().heapUsed }
}

const store = await openStore(spec.url, spec.options)
const held: unknown[] = []
const base = measure()
const ciphertext = Buffer.from(spec.ciphertext, 'base64')
for (const session of spec.sessions) {
  const auth = await store.useAuthState(session, spec.cacheEntries === null || spec.cacheEntries === undefined ? {} : { cacheEntries: spec.cacheEntries })
  const { repo } = signalOf(auth.state as any)
  await repo.decryptMessage({ jid: spec.jid, type: 'pkmsg', ciphertext })
  held.push(auth, repo)
}
const first = measure()
for (let i = 0; i < held.length; i += 2) {
  const { keys } = (held[i] as any).state
  for (const type of ['pre-key', 'session', 'sender-key', 'lid-mapping', 'device-list', 'identity-key']) await keys.get(type, await keys.allIds(type))
}
const all = measure()
process.stdout.write(
  JSON.stringify({
    afterFirst: first.rss - base.rss,
    afterAll: all.rss - base.rss,
    heapFirst: first.heap - base.heap,
    heapAll: all.heap - base.heap,
    held: held.length / 2
  })
)
await store.close()
