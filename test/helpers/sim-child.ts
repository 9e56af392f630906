/**
 * Child process for the simulator's SIGKILL scenario: an echo bot on a baileys-vault store.
 * argv: <simulator url> <root key hex> <store url> <session id>
 * Talks to the parent over IPC: { type: 'qr' | 'open' | 'close' | 'received' | 'replied' | 'sent' },
 * and { type: 'undecryptable', reason } for a message its Baileys could not decrypt (the reason only).
 * From the parent: { type: 'send', to, text } sends a text of its own, answered with { type: 'sent', id }.
 * Reconnects by itself after 515 (restart required), like any bot.
 * env VAULT_SIM_STORE_OPTIONS: serialised OpenStoreOptions; VAULT_SIM_TRACE / VAULT_SIM_KILL: see sim-child-faults.ts;
 * VAULT_SIM_PUSH_NAME: the bot's push name (its own account on the simulator).
 * env VAULT_SIM_MESSAGE_STORE=1: the bot keeps what it sends in the store's retry store (useMessageStore).
 */
import { DisconnectReason, type WASocket } from '@whiskeysockets/baileys'
import { openStore } from '../../src/open-store.js'
import { trustSimulator } from '../../src/sim/index.js'
import { decodeOptions } from './crash-conversation.js'
import { connectClient, echoTexts } from './sim-client.js'
import { traceCommits, tracingLogger } from './sim-child-faults.js'

const [url, rootKeyHex, storeUrl, sessionId] = process.argv.slice(2)
if (!url || !rootKeyHex || !storeUrl || !sessionId) throw new Error('usage: sim-child <simulator url> <root key hex> <store url> <session id>')
const simulatorUrl: string = url // narrowed above; run() below is hoisted, so it would not see that
const send = (msg: Record<string, unknown>) => process.send?.(msg)

trustSimulator(Buffer.from(rootKeyHex, 'hex'))
const store = await openStore(storeUrl, decodeOptions(process.env.VAULT_SIM_STORE_OPTIONS))
const auth = await store.useAuthState(sessionId)
traceCommits(auth.state.keys)
const logger = tracingLogger()
const pushName = process.env.VAULT_SIM_PUSH_NAME
const messages = process.env.VAULT_SIM_MESSAGE_STORE === '1' ? await store.useMessageStore(sessionId) : undefined

let current: WASocket | undefined

function run(): void {
  const client = connectClient({
    url: simulatorUrl,
    auth,
    onQr: qr => send({ type: 'qr', qr }),
    config: { logger, ...(pushName ? { pushName } : {}), ...messages?.socketOptions() }
  })
  current = client.sock
  messages?.record(client.sock)
  client.sock.ev.on('connection.update', update => {
    if (update.connection === 'open') send({ type: 'open' })
  })
  echoTexts(client.sock, send)
  client.sock.ev.on('messages.upsert', ({ messages }) => {
    for (const msg of messages)
      if (msg.messageStubParameters?.length && !msg.message) send({ type: 'undecryptable', reason: String(msg.messageStubParameters[0]) })
  })
  void client.waitForClose(24 * 3600_000).then(code => {
    send({ type: 'close', code })
    if (code === DisconnectReason.restartRequired) setTimeout(run, 50)
  })
}

process.on('message', (msg: { type: string; to?: string; text?: string }) => {
  if (msg.type !== 'send' || !current) return
  void current.sendMessage(msg.to!, { text: msg.text! }).then(sent => send({ type: 'sent', id: sent?.key.id }))
})

run()
