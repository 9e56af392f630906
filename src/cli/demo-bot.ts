import type { WASocket } from '../core/baileys.js'

/** The demo's bot, written as a user would write a `--bot` module: answers "ping" with "pong". */
export function pingPongBot(sock: WASocket): void {
  sock.ev.on('messages.upsert', async ({ messages, type }) => {
    if (type !== 'notify') return
    for (const msg of messages) {
      const text = msg.message?.conversation ?? msg.message?.extendedTextMessage?.text
      if (!msg.key.fromMe && msg.key.remoteJid && text?.trim().toLowerCase() === 'ping') {
        await sock.sendMessage(msg.key.remoteJid, { text: 'pong' })
      }
    }
  })
}
