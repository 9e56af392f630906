/**
 * Child process for the retry store's zombie scenario (test/retry-store/frozen-owner-fenced.servers.test.ts).
 * argv: <store url> <lease ttl ms>. Takes the lease of session "bot", opens its retry store with
 * it, records the message "BEFORE" and reports { type: 'ready' }. The parent then freezes it
 * (SIGSTOP) past its lease, takes the lease over, and wakes it (SIGCONT) with { type: 'try' }:
 * the child tries to record, to serve and to count as an owner would, and reports each outcome
 * (the error code, never a message text). With { type: 'unfenced' } (the control) it records
 * through a retry store opened without the lease, which nothing fences.
 */
import { leaseOwner } from '../../src/drivers/shared-lease.js'
import { openStore } from '../../src/open-store.js'

const [url, ttl] = process.argv.slice(2)
if (!url) throw new Error('usage: retry-zombie-child <store url> <lease ttl ms>')
const send = (msg: Record<string, unknown>) => process.send?.(msg)
const JID = '15550009090@s.whatsapp.net'
const codeOf = (promise: Promise<unknown>) =>
  promise.then(
    () => 'ok',
    (err: { code?: string }) => err.code ?? 'error'
  )

const store = await openStore(url)
const lease = await store.acquireLease('bot', { owner: leaseOwner(), ttlMs: Number(ttl) })
const messages = await store.useMessageStore('bot', { lease })
await messages.recordMessage({ jid: JID, id: 'BEFORE', message: { conversation: 'sent before the freeze' } })
send({ type: 'ready', epoch: lease.epoch })

process.on('message', async (msg: { type: string }) => {
  if (msg.type === 'try') {
    send({
      type: 'tried',
      record: await codeOf(messages.recordMessage({ jid: JID, id: 'ZOMBIE', message: { conversation: 'sent by the zombie' } })),
      serve: await codeOf(messages.getMessage({ remoteJid: JID, id: 'BEFORE', fromMe: true })),
      count: await codeOf(Promise.resolve(messages.msgRetryCounterCache.set('BEFORE:' + JID, 1)))
    })
  }
  if (msg.type === 'unfenced') {
    const unfenced = await openStore(url)
    const plain = await unfenced.useMessageStore('bot')
    send({ type: 'unfenced', record: await codeOf(plain.recordMessage({ jid: JID, id: 'UNFENCED', message: { conversation: 'no lease' } })) })
    await unfenced.close()
  }
  if (msg.type === 'exit') {
    await store.close().catch(() => undefined)
    process.exit(0)
  }
})
