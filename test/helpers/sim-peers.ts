/**
 * Two (or more) real Baileys clients on one simulator, each its own account (by push name) on a
 * baileys-vault store: link by QR, log in again from the saved creds, wait for what arrives.
 */
import assert from 'node:assert/strict'
import { DisconnectReason, jidNormalizedUser, type UserFacingSocketConfig, type WAMessage } from '@whiskeysockets/baileys'
import type { AuthStore } from '../../src/auth/auth-store.js'
import type { LinkedDevice, Simulator } from '../../src/sim/index.js'
import { connectClient, textOf, type Client } from './sim-client.js'

export const PEER_OPEN_MS = 20_000

export interface Peer {
  client: Client
  /** The account's PN JID, e.g. '12345678901@s.whatsapp.net'. */
  jid: string
  /** The account's LID JID. */
  lid: string
  linked: LinkedDevice
  pushName: string
}

type Auth = Awaited<ReturnType<AuthStore['useAuthState']>>

/** Links a fresh session of `store` as `pushName`'s account (QR, 515), then logs in from the saved creds. */
export async function linkPeer(options: { sim: Simulator; auth: Auth; pushName: string; config?: Partial<UserFacingSocketConfig> }): Promise<Peer> {
  const { sim, auth, pushName } = options
  const config = { pushName, ...options.config }
  let scan: Promise<LinkedDevice> | undefined
  const pairing = connectClient({ url: sim.url, auth, config, onQr: qr => void (scan ??= sim.phone.scan(qr)) })
  const code = await pairing.waitForClose(PEER_OPEN_MS)
  await pairing.end()
  assert.ok(scan, 'the client showed a QR code')
  assert.equal(code, DisconnectReason.restartRequired)
  const linked = await scan
  const client = await loginPeer({ sim, auth, config })
  return { client, jid: jidNormalizedUser(linked.jid), lid: jidNormalizedUser(linked.lid), linked, pushName }
}

/** Logs a linked session in from its saved creds; fails if it is asked to scan a QR code. */
export async function loginPeer(options: { sim: Simulator; auth: Auth; config?: Partial<UserFacingSocketConfig> }): Promise<Client> {
  const client = connectClient({
    url: options.sim.url,
    auth: options.auth,
    config: options.config,
    onQr: () => assert.fail('a linked device must not be asked to scan a QR code')
  })
  await client.waitForOpen(PEER_OPEN_MS)
  return client
}

/** The next received message (not from me) whose text is `text`; earlier ones are skipped. */
export async function waitForText(client: Client, text: string, timeoutMs = PEER_OPEN_MS): Promise<WAMessage> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const msg = await client.nextMessage(Math.max(1, deadline - Date.now()))
    if (textOf(msg) === text) return msg
  }
}
