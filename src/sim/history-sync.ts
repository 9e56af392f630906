/**
 * The history-sync notification a phone sends a freshly linked device. On its first login
 * Baileys buffers every event until one arrives (AwaitingInitialSync, 20 s otherwise). The
 * simulator has no history to give: the notification carries an empty INITIAL_BOOTSTRAP inline,
 * so the client finishes its initial sync at once, without a media download.
 */
import { deflateSync } from 'node:zlib'
import { proto, type BinaryNode } from '../core/baileys.js'
import { newMessageId, unixNow, type Account } from './state.js'

export function historySyncNotification(account: Account): BinaryNode {
  const syncType = proto.HistorySync.HistorySyncType.INITIAL_BOOTSTRAP
  const history = proto.HistorySync.encode({ syncType, progress: 100, conversations: [] }).finish()
  const message = proto.Message.encode({
    protocolMessage: {
      type: proto.Message.ProtocolMessage.Type.HISTORY_SYNC_NOTIFICATION,
      historySyncNotification: { syncType, progress: 100, chunkOrder: 0, initialHistBootstrapInlinePayload: deflateSync(history) }
    }
  }).finish()
  // From the account's phone (device 0) to its own device: plaintext, as the phone has no Signal
  // session here; Baileys takes a <plaintext> node's bytes as the message.
  return {
    tag: 'message',
    attrs: { from: account.pnJid, id: newMessageId(), t: unixNow(), type: 'text', category: 'peer' },
    content: [{ tag: 'plaintext', attrs: {}, content: message }]
  }
}
