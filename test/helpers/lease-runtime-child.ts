/**
 * Child process for the lease scenarios: an echo bot kept alive by the runtime with leases on
 * and signal handling (as `run` sets it). argv: <simulator url> <root key hex> <store url>
 * <session id> <ttl ms> <wait: 1|0>. env VAULT_SIM_PUSH_NAME: the bot's push name (its own
 * account on the simulator).
 * IPC to the parent: { type: 'qr' | 'state' | 'received' | 'replied' | 'ack' | 'write-failed' | 'stats' | 'stopped', at }
 * ('at' is Date.now() in the child: same host, so the parent can measure handoffs).
 * From the parent: { type: 'probe-write' } writes one key through the socket's key store (as
 * Baileys would), then once straight to the store stamped with the epoch this process held when
 * it connected (what a zombie without the runtime's cut-off would send); { type: 'stats' }
 * asks for session.stats().
 */
import { openStore } from '../../src/open-store.js'
import { trustSimulator } from '../../src/sim/index.js'
import { startSession } from '../../src/runtime/index.js'
import type { SignalKeyStore } from '@whiskeysockets/baileys'
import { silentLogger, echoTexts } from './sim-client.js'

const PROBE = { type: 'app-state-sync-version', id: 'zombie-probe' } as const

const [url, rootKeyHex, storeUrl, sessionId, ttl, wait] = process.argv.slice(2)
if (!url || !rootKeyHex || !storeUrl || !sessionId)
  throw new Error('usage: lease-runtime-child <simulator url> <root key hex> <store url> <session id> <ttl ms> <wait>')
const send = (msg: Record<string, unknown>) => process.send?.({ ...msg, at: Date.now() })

trustSimulator(Buffer.from(rootKeyHex, 'hex'))
const store = await openStore(storeUrl)
const writeRaw = store.writeRaw.bind(store)
store.writeRaw = async (session, batch) => {
  try {
    await writeRaw(session, batch)
  } catch (err) {
    send({ type: 'write-failed', code: (err as { code?: string }).code })
    throw err
  }
  send({ type: 'ack', keys: [...batch.set.map(([t, id]) => [t, id]), ...batch.del.map(([t, id]) => [t, id])], creds: batch.creds !== undefined })
}

let session
try {
  session = await startSession({
    store,
    sessionId,
    socket: {
      waWebSocketUrl: url,
      logger: silentLogger as never,
      markOnlineOnConnect: false,
      ...(process.env.VAULT_SIM_PUSH_NAME ? { pushName: process.env.VAULT_SIM_PUSH_NAME } : {})
    },
    handleSignals: { exit: false },
    lease: { ttlMs: Number(ttl), wait: wait !== '0' }
  })
} catch (err) {
  send({ type: 'start-failed', code: (err as { code?: string }).code, message: (err as Error).message })
  await store.close()
  process.exit(2)
}
let keys: SignalKeyStore | undefined
let connectedEpoch: number | undefined
session.on('qr', qr => send({ type: 'qr', qr }))
session.on('state', ({ state, reason }) => {
  if (state === 'connected') connectedEpoch = session.stats().lease?.epoch
  send({ type: 'state', state, code: reason.code, message: reason.message })
  if (state === 'stopped') {
    void store.close().then(() => process.send!({ type: 'stopped', stats: session.stats(), at: Date.now() }, () => process.exit(0)))
  }
})
session.on('socket', sock => {
  keys = sock.authState.keys
  echoTexts(sock, send)
})
process.on('message', (msg: { type: string }) => {
  if (msg.type === 'stats') send({ type: 'stats', stats: session.stats() })
  if (msg.type === 'probe-write') {
    Promise.resolve(keys!.set({ [PROBE.type]: { [PROBE.id]: { version: 1, hash: Buffer.alloc(128), indexValueMap: {} } } } as never)).then(
      () => send({ type: 'probe-result', ok: true }),
      (err: { code?: string; message?: string }) => send({ type: 'probe-result', ok: false, code: err.code, message: err.message })
    )
    const value = { version: 1, hash: Buffer.alloc(128), indexValueMap: {} }
    store.write(sessionId, { set: [[PROBE.type, PROBE.id, value]], epoch: connectedEpoch }).then(
      () => send({ type: 'fenced-result', ok: true }),
      (err: { code?: string }) => send({ type: 'fenced-result', ok: false, code: err.code, epoch: connectedEpoch })
    )
  }
})
send({ type: 'started', state: session.state })
