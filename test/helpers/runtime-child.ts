/**
 * Child process for the SIGTERM scenario: an echo bot kept alive by the runtime, with signal
 * handling on (as the CLI sets it). argv: <simulator url> <root key hex> <store url> <session id>
 * IPC to the parent: { type: 'qr' | 'state' | 'received' | 'replied' | 'ack' | 'stopped' }.
 * Every store write that resolved is reported as 'ack' (type, id, sha256 of the bytes, or null
 * for a delete), so the parent can check that no acknowledged write was lost.
 */
import { createHash } from 'node:crypto'
import { openStore } from '../../src/open-store.js'
import { trustSimulator } from '../../src/sim/index.js'
import { startSession } from '../../src/runtime/index.js'
import { silentLogger, echoTexts } from './sim-client.js'

const [url, rootKeyHex, storeUrl, sessionId] = process.argv.slice(2)
if (!url || !rootKeyHex || !storeUrl || !sessionId) throw new Error('usage: runtime-child <simulator url> <root key hex> <store url> <session id>')
const send = (msg: Record<string, unknown>) => process.send?.(msg)
const digest = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

trustSimulator(Buffer.from(rootKeyHex, 'hex'))
const store = await openStore(storeUrl)
const writeRaw = store.writeRaw.bind(store)
store.writeRaw = async (session, batch) => {
  await writeRaw(session, batch)
  send({
    type: 'ack',
    creds: batch.creds ? digest(batch.creds) : undefined,
    keys: [...batch.set.map(([t, id, bytes]) => [t, id, digest(bytes)]), ...batch.del.map(([t, id]) => [t, id, null])]
  })
}

const session = await startSession({
  store,
  sessionId,
  socket: { waWebSocketUrl: url, logger: silentLogger as never, markOnlineOnConnect: false },
  handleSignals: { exit: false }
})
session.on('qr', qr => send({ type: 'qr', qr }))
session.on('state', ({ state, reason }) => {
  send({ type: 'state', state, code: reason.code })
  if (state === 'stopped') {
    void store.close().then(() => process.send!({ type: 'stopped', stats: session.stats() }, () => process.exit(0)))
  }
})
session.on('socket', sock => {
  echoTexts(sock, send)
})
