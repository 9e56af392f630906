/**
 * baileys-vault/sim: a local WhatsApp protocol simulator for testing Baileys bots offline.
 *
 *   const sim = await startSimulator()
 *   trustSimulator(sim)                     // Baileys checks the server cert against this root
 *   const sock = makeWASocket({ auth: state, waWebSocketUrl: sim.url })
 *   sock.ev.on('connection.update', ({ qr }) => qr && sim.phone.scan(qr))
 *   // or by code: await sim.phone.enterCode(await sock.requestPairingCode(sim.phone.account.pn))
 *
 * Layout: noise.ts (framing, Noise XX), certs.ts (cert chain), connection.ts (one client),
 * server.ts (registration/login, routing, kicks, silence, restart), kicks.ts (kick stanzas),
 * handlers.ts (IQs, messages, receipts), routing.ts (messages and receipts between clients),
 * delivery-queue.ts (delivery delay, offline queue), groups.ts (w:g2, group fan-out),
 * media-store.ts (uploads and downloads), history-sync.ts, tls.ts (wss:// certificate),
 * phone.ts (QR and code linking), link-code.ts (the pairing-code crypto), contact.ts (Signal
 * contacts), state.ts (what the server remembers: accounts by push name, devices),
 * control.ts (HTTP control API on the same port, for `baileys-vault sim`).
 */
import { VaultError } from '../core/errors.js'
import type { Contact } from './contact.js'
import type { KickReason } from './kicks.js'
import type { Phone } from './phone.js'
import { SimServer } from './server.js'
import { Account, lidForPhone, SimState, type AccountInfo, type AccountMode, type DeviceInfo } from './state.js'
import { selfSignedCertificate, type TlsCertificate } from './tls.js'

export { trustSimulator } from './certs.js'
export { parseQr, type EnterCodeOptions, type LinkedDevice, type ParsedQr, Phone } from './phone.js'
export type { Contact, ReceivedMessage, SentMessage } from './contact.js'
export { KICK_REASONS, type KickReason } from './kicks.js'
export type { AccountInfo, AccountMode, DeviceInfo } from './state.js'
export type { TlsCertificate } from './tls.js'

export interface RestartOptions {
  /** How long the port stays closed before the simulator listens again. Default 200 ms. */
  downMs?: number
}

export interface SimulatorOptions {
  /** TCP port; 0 or absent picks a free one. */
  port?: number
  /** Loopback address to listen on: 127.0.0.1 (default), ::1 or localhost. */
  host?: string
  /** The simulated phone's number (the account the devices link to). Default '15550009999'. */
  phoneNumber?: string
  /** Diagnostic lines (no key material). Silent by default. */
  log?: (message: string) => void
  /**
   * How linking clients become accounts. 'by-push-name' (default): a client that sets
   * makeWASocket's `pushName` gets its own account, with a phone number derived from the name
   * (the same name, the same number, in every run), so clients can message each other; a client
   * without a push name is a device of the default phone (`phone`). 'single': every client is a
   * device of the default phone.
   */
  accounts?: AccountMode
  /**
   * Milliseconds between a client sending a message or receipt and its recipients getting it.
   * Default 150: much faster loses a race inside Baileys (it holds an own message ~100 ms).
   */
  deliveryDelayMs?: number
  /** Send a (empty) history-sync notification on a device's first login. Default true. */
  historySync?: boolean
  /** Serve wss:// (and https:// for the control API and media) with a self-signed certificate. */
  tls?: boolean | TlsCertificate
}

export interface Simulator {
  /** 'ws://127.0.0.1:PORT' for makeWASocket's waWebSocketUrl. */
  readonly url: string
  readonly host: string
  readonly port: number
  /** The root key of the simulator's certificate chain (see trustSimulator). */
  readonly rootPublicKey: Buffer
  readonly phone: Phone
  /** A contact with its own Signal identity; the same object for the same number. */
  contact(phoneNumber: string, options?: { name?: string; lid?: string }): Contact
  /**
   * Disconnects a device (or all devices of the account) the way the real server does:
   * restart 515, replaced 440, logout 401 (removes the device), badSession 500, forbidden 403,
   * multideviceMismatch 411. Returns how many live connections were told.
   */
  kick(jid: string, reason: KickReason): number
  /**
   * Makes the device's connection (or every device's, for a JID without device) half-open for
   * `ms`: no pongs, no stanzas, nothing it sends is answered, the socket stays open. Stanzas for
   * it queue meanwhile and go out afterwards if it is still connected. Returns how many connections.
   */
  silence(jid: string, ms: number): number
  /**
   * Closes every connection (clients see 428), stays unreachable for `downMs`, then listens on the
   * same port again with every device, contact and queued stanza kept.
   */
  restart(options?: RestartOptions): Promise<void>
  /** Every account: the default phone's first, then one per push name that linked. */
  accounts(): AccountInfo[]
  /**
   * Milliseconds between a client sending and its recipients receiving (see
   * SimulatorOptions.deliveryDelayMs); settable while running.
   */
  deliveryDelayMs: number
  /** The linked devices of every account, as the server sees them. */
  devices(): DeviceInfo[]
  device(jid: string): DeviceInfo | undefined
  stop(): Promise<void>
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost'])

export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const host = options.host ?? '127.0.0.1'
  if (!LOOPBACK.has(host) && !/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) {
    throw new VaultError('INVALID_ARGUMENT', `The simulator only listens on loopback (127.0.0.1, ::1, localhost), not "${host}".`)
  }
  const port = options.port ?? 0
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new VaultError('INVALID_ARGUMENT', `Invalid port ${port}.`)
  const phoneNumber = options.phoneNumber ?? '15550009999'
  if (!/^\d{5,15}$/.test(phoneNumber)) throw new VaultError('INVALID_ARGUMENT', `Invalid phone number "${phoneNumber}": digits only.`)

  const accounts = options.accounts ?? 'by-push-name'
  if (accounts !== 'by-push-name' && accounts !== 'single')
    throw new VaultError('INVALID_ARGUMENT', `accounts must be 'by-push-name' or 'single', not "${String(accounts)}".`)
  const tls = options.tls === true ? await selfSignedCertificate() : options.tls || undefined
  const server = new SimServer(new SimState(new Account(phoneNumber, lidForPhone(phoneNumber, '88')), accounts), {
    log: options.log,
    deliveryDelayMs: options.deliveryDelayMs,
    historySync: options.historySync,
    tls
  })
  let url = ''
  const describe = () => ({ url, rootPublicKey: server.rootPublicKey.toString('hex'), phone: server.phone.jid, tls: !!tls, accounts })
  let bound: number
  try {
    bound = await server.listen(host, port, describe)
  } catch (err) {
    await server.stop().catch(() => undefined)
    throw new VaultError('BACKEND_UNAVAILABLE', `The simulator could not listen on ${host}:${port}: ${(err as Error).message}`, { cause: err })
  }
  url = `${tls ? 'wss' : 'ws'}://${host.includes(':') ? `[${host}]` : host}:${bound}${tls ? '/ws/chat' : ''}`

  const info = (jid: string): DeviceInfo | undefined => {
    const d = server.state.byJid(jid)
    return d && server.deviceInfo(d)
  }

  return {
    url,
    host,
    port: bound,
    rootPublicKey: server.rootPublicKey,
    phone: server.phone,
    contact: (pn, opts) => {
      if (!/^\d{5,15}$/.test(pn)) throw new VaultError('INVALID_ARGUMENT', `Invalid contact number "${pn}": digits only.`)
      return server.contact(pn, opts)
    },
    kick: (jid, reason) => server.kick(jid, reason),
    silence: (jid, ms) => server.silence(jid, ms),
    restart: async (opts = {}) => server.restart(opts.downMs),
    accounts: () => server.accountInfos(),
    get deliveryDelayMs() {
      return server.delivery.delayMs
    },
    set deliveryDelayMs(ms: number) {
      server.delivery.delayMs = ms
    },
    devices: () => server.deviceInfos(),
    device: info,
    stop: () => server.stop()
  }
}
