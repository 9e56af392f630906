/**
 * Child process for the simulator's SIGKILL scenario: an echo bot on a baileys-vault store.
 * argv: <simulator url> <root key hex> <store url> <session id>
 * Talks to the parent over IPC: { type: 'qr' | 'open' | 'close' | 'received' | 'replied' }.
 * Reconnects by itself after 515 (restart required), like any bot.
 * env VAULT_SIM_STORE_OPTIONS: serialised OpenStoreOptions; VAULT_SIM_TRACE / VAULT_SIM_KILL: see sim-child-faults.ts;
 * VAULT_SIM_PUSH_NAME: the bot's push name (its own account on the simulator).
 * env VAULT_SIM_MESSAGE_STORE=1: the bot keeps what it sends in the store's retry store (useMessageStore).
 */
import { DisconnectReason } from '@whiskeysockets/baileys'
import { openStore } from '../../src/open-store.js'
import { trustSimulator } from '../../src/sim/index.js'
import { decodeOptions } from './crash-conversation.js'
import { connectClient, echoTexts } from './sim-client.js'
import { traceCommits, tracingLogger } from './sim-child-faults.js'

const [url, rootKeyHex, storeUrl, sessionId] = process.argv.slice(2)
const send = (msg: Record<string, unknown>) => process.send?.(msg)

trustSimulator(Buffer.from(rootKeyHex, 'hex'))
const store = await openStore(storeUrl, decodeOptions(process.env.VAULT_SIM_STORE_OPTIONS))
const auth = await store.useAuthState(sessionId)
traceCommits(auth.state.keys)
const logger = tracingLogger()
const pushName = process.env.VAULT_SIM_PUSH_NAME
const messages = process.env.VAULT_SIM_MESSAGE_STORE === '1' ? await store.useMessageStore(sessionId) : undefined

function run(): void {
  const client = connectClient({
    url,
    auth,
    onQr: qr => send({ type: 'qr', qr }),
    config: { logger, ...(pushName ? { pushName } : {}), ...messages?.socketOptions() }
  })
  messages?.record(client.sock)
  client.sock.ev.on('connection.update', update => {
    if (update.connection === 'open') send({ type: 'open' })
  })
  echoTexts(client.sock, send)
  void client.waitForClose(24 * 3600_000).then(code => {
    send({ type: 'close', code })
    if (code === DisconnectReason.restartRequired) setTimeout(run, 50)
  })
}

run()
