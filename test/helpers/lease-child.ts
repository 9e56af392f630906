/**
 * Child process of the lease race: opens the store, says `ready`, waits for `go` on stdin so
 * every child asks at the same instant, tries to acquire the session's lease once and prints
 * the outcome as one JSON line. On `exit` (sent once every child answered: a winner that died
 * before the others asked would be taken over at once, its pid gone) it exits WITHOUT
 * releasing: the lease stays behind a pid that no longer exists. argv: <store url> <session> <ttl ms>.
 */
import { createInterface } from 'node:readline'
import { leaseOwner } from '../../src/drivers/shared-lease.js'
import { openStore } from '../../src/open-store.js'

const [url, session, ttl] = process.argv.slice(2)
if (!url || !session || !ttl) throw new Error('usage: lease-child <store url> <session> <ttl ms>')
const store = await openStore(url)
const owner = leaseOwner()
// One iterator for both waits: breaking a for-await loop would close the interface.
const input = createInterface({ input: process.stdin })[Symbol.asyncIterator]()
const until = async (word: string) => {
  for (;;) {
    const { value, done } = await input.next()
    if (done || value === word) return
  }
}
process.stdout.write('ready\n')
await until('go')
try {
  const lease = await store.acquireLease(session, { owner, ttlMs: Number(ttl) })
  process.stdout.write(`${JSON.stringify({ won: true, owner, epoch: lease.epoch })}\n`)
} catch (err) {
  process.stdout.write(`${JSON.stringify({ won: false, owner, code: (err as { code?: string }).code, message: (err as Error).message })}\n`)
}
await until('exit')
await store.close()
process.exit(0)
