/**
 * The ways the server throws a device out, and the stanza it sends for each. Baileys maps each
 * stanza to the DisconnectReason in the comment (socket.js: stream:error via
 * getErrorCodeFromStreamError, CB:failure, CB:ib,,downgrade_webclient).
 */
import type { BinaryNode } from '../core/baileys.js'

export const KICK_REASONS = ['restart', 'replaced', 'logout', 'badSession', 'forbidden', 'multideviceMismatch'] as const

export type KickReason = (typeof KICK_REASONS)[number]

export const KICK_NODES: Record<KickReason, BinaryNode> = {
  restart: { tag: 'stream:error', attrs: { code: '515' } }, // 515 restartRequired
  replaced: { tag: 'stream:error', attrs: {}, content: [{ tag: 'conflict', attrs: { type: 'replaced' } }] }, // 440 connectionReplaced
  logout: { tag: 'stream:error', attrs: { code: '401' }, content: [{ tag: 'conflict', attrs: { type: 'device_removed' } }] }, // 401 loggedOut
  badSession: { tag: 'stream:error', attrs: {}, content: [{ tag: 'xml-not-well-formed', attrs: {} }] }, // 500 badSession
  forbidden: { tag: 'failure', attrs: { reason: '403', location: 'sim' } }, // 403 forbidden (a banned account)
  multideviceMismatch: { tag: 'ib', attrs: { from: 's.whatsapp.net' }, content: [{ tag: 'downgrade_webclient', attrs: {} }] } // 411 multideviceMismatch
}
