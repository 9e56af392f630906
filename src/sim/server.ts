/**
 * The simulated WhatsApp server: accepts WebSocket connections on loopback, tells registrations
 * from logins, keeps the online devices and routes between them, the phone and the contacts.
 */
import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createTlsServer } from 'node:https'
import { setTimeout as delay } from 'node:timers/promises'
import { WebSocketServer } from 'ws'
import { Curve, jidDecode, type BinaryNode, type KeyPair, type ProtoTypes } from '../core/baileys.js'
import { invalidArgument, VaultError } from '../core/errors.js'
import { makeCertAuthority, verifySignature } from './certs.js'
import { SimConnection, type ConnectionHost } from './connection.js'
import { Contact, type ContactHost } from './contact.js'
import { controlHandler, type ControlHost } from './control.js'
import { handleNode, type HandlerHost } from './handlers.js'
import { DeliveryQueue, queueOffline, takeOffline } from './delivery-queue.js'
import { GroupRegistry } from './groups.js'
import { MediaStore } from './media-store.js'
import { historySyncNotification } from './history-sync.js'
import { KICK_NODES, KICK_REASONS, type KickReason } from './kicks.js'
import { Phone, type PhoneHost } from './phone.js'
import type { TlsCertificate } from './tls.js'
import { lidForPhone, unixNow, type AccountInfo, withKeyType, type DeviceInfo, type DeviceRecord, type SimState } from './state.js'

export type { KickReason } from './kicks.js'
export type { DeviceInfo } from './state.js'

const QR_REFS = 6
/** How long restart() keeps the port closed unless told otherwise: long enough to refuse a reconnect. */
const DEFAULT_RESTART_DOWN_MS = 200
/** setTimeout's limit; longer waits would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1

const checkDuration = (ms: unknown, what: string, { min }: { min: number }): number => {
  if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < min || ms > MAX_TIMER_MS) {
    throw invalidArgument(`${what} must be a whole number of milliseconds from ${min} to ${MAX_TIMER_MS}, not ${String(ms)}.`)
  }
  return ms
}
/** Delay before the first stanza after the handshake, so it never races the client's switch to transport. */
const POST_HANDSHAKE_DELAY_MS = 15
/** If the client never sends its post-login queries, queued stanzas go out after this long. */
const FLUSH_FALLBACK_MS = 3_000

export class SimServer implements ConnectionHost, HandlerHost, PhoneHost, ContactHost, ControlHost {
  readonly noiseKey: KeyPair = Curve.generateKeyPair()
  readonly certChain: Uint8Array
  readonly rootPublicKey: Buffer
  readonly phone: Phone
  readonly connections = new Set<SimConnection>()
  /** Connections from the WebSocket upgrade until login success, the pair-device request, or close: handshakes in flight. */
  private readonly handshaking = new Set<SimConnection>()
  private readonly handshakeStats = { peak: 0, total: 0 }
  private readonly online = new Map<string, SimConnection>()
  private readonly refs = new Map<string, SimConnection>()
  /** Kicks sent, by device JID and reason: what a test asserts "no 440" on. */
  private readonly kicked = new Map<string, Record<KickReason, number>>()
  private readonly contacts = new Map<string, Contact>()
  /** Stanzas between clients, delivered after the configured delay. */
  readonly delivery: DeliveryQueue = new DeliveryQueue(this)
  readonly groups = new GroupRegistry()
  /** Uploaded media, in temporary files (served only in TLS mode: Baileys uses https). */
  readonly media = new MediaStore()
  private wss?: WebSocketServer
  private http?: Server
  /** Where listen() bound, so restart() listens there again. */
  private address?: { host: string; port: number; describe: () => Record<string, unknown> }
  private restarting?: Promise<void>
  private stopped = false

  private readonly logger: (message: string) => void
  /** Whether a device's first login gets the history-sync notification. */
  private readonly historySync: boolean
  /** Serves wss:// and https:// with this certificate when set. */
  readonly tls?: TlsCertificate

  constructor(
    readonly state: SimState,
    options: { log?: (message: string) => void; deliveryDelayMs?: number; historySync?: boolean; tls?: TlsCertificate } = {}
  ) {
    this.logger = options.log ?? (() => {})
    this.tls = options.tls
    this.historySync = options.historySync ?? true
    if (options.deliveryDelayMs !== undefined) this.delivery.delayMs = checkDuration(options.deliveryDelayMs, 'deliveryDelayMs', { min: 0 })
    const ca = makeCertAuthority(this.noiseKey)
    this.certChain = ca.chain
    this.rootPublicKey = Buffer.from(ca.root.public)
    this.phone = new Phone(this)
  }

  /** Listens on host:port; `describe` feeds the control API's GET /. Resolves with the bound port. */
  listen(host: string, port: number, describe: () => Record<string, unknown>): Promise<number> {
    return new Promise((resolve, reject) => {
      const control = controlHandler(this)
      const handler = (req: IncomingMessage, res: ServerResponse) => void (this.media.handle(req, res) || control(req, res))
      const http = this.tls ? createTlsServer({ key: this.tls.key, cert: this.tls.cert }, handler) : createServer(handler)
      this.http = http
      // Never reject an upgrade: Baileys would hang in 'connecting'. Errors go in-protocol.
      const wss = new WebSocketServer({ server: http, perMessageDeflate: false, maxPayload: 2 << 20 })
      this.wss = wss
      wss.on('error', err => this.log(`websocket server error: ${err.message}`))
      wss.on('connection', ws => {
        const conn = new SimConnection(ws, this)
        this.connections.add(conn)
        this.handshaking.add(conn)
        this.handshakeStats.total++
        this.handshakeStats.peak = Math.max(this.handshakeStats.peak, this.handshaking.size)
      })
      http.once('error', reject)
      http.listen(port, host, () => {
        http.off('error', reject)
        http.on('error', err => this.log(`server error: ${err.message}`))
        http.on('clientError', (_err, socket) => socket.destroy())
        http.on('tlsClientError', () => undefined)
        const address = http.address()
        const bound = typeof address === 'object' && address ? address.port : port
        this.address = { host, port: bound, describe }
        resolve(bound)
      })
    })
  }

  /** host:port of the media server, as media_conn hands it out. */
  mediaHost(): string {
    const address = this.address
    if (!address) return 'localhost'
    return `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`
  }

  /** Handshakes in flight now, the most at once since the last reset, and all ever started. */
  handshakes(options: { resetPeak?: boolean } = {}): { inFlight: number; peak: number; total: number } {
    if (options.resetPeak) this.handshakeStats.peak = this.handshaking.size
    return { inFlight: this.handshaking.size, ...this.handshakeStats }
  }

  describe(): Record<string, unknown> {
    return this.address?.describe() ?? {}
  }

  async stop(): Promise<void> {
    this.stopped = true
    await this.restarting
    await this.close()
    this.media.close()
  }

  /**
   * Closes every connection and stops listening, stays unreachable for `downMs`, then listens on
   * the same address again. Devices, contacts and queued stanzas are kept, as a real server keeps
   * them in its database across a restart. Bad input throws at once; `after` delays the closing
   * (the control API first finishes answering the request that asked for the restart).
   */
  restart(downMs = DEFAULT_RESTART_DOWN_MS, { after }: { after?: Promise<void> } = {}): Promise<void> {
    checkDuration(downMs, 'downMs', { min: 0 })
    const address = this.address
    if (!address || this.stopped) throw new VaultError('NOT_FOUND', 'The simulator was stopped: start a new one instead of restarting it.')
    this.restarting ??= (async () => {
      try {
        await after
        this.log(`restarting: down for ${downMs} ms`)
        await this.close()
        await delay(downMs)
        if (this.stopped) return
        await this.listen(address.host, address.port, address.describe).catch(err => {
          throw new VaultError('BACKEND_UNAVAILABLE', `The simulator could not listen on ${address.host}:${address.port} again: ${(err as Error).message}`, {
            cause: err
          })
        })
      } finally {
        this.restarting = undefined
      }
    })()
    return this.restarting
  }

  private async close(): Promise<void> {
    const { wss, http } = this
    // Stop accepting first: a client that sees its connection close must find the port closed.
    const listenerClosed = http?.listening ? new Promise<void>(resolve => http.close(() => resolve())) : Promise.resolve()
    for (const conn of this.connections) conn.close(1001)
    // What was routed but not delivered yet waits in the offline queues, as across a real restart.
    this.delivery.drain()
    if (wss) {
      for (const client of wss.clients) client.terminate()
      await new Promise<void>(resolve => wss.close(() => resolve()))
    }
    http?.closeAllConnections()
    await listenerClosed
  }

  accountInfos(): AccountInfo[] {
    return this.state.listAccounts().map(a => ({
      pn: a.pn,
      lid: a.lid,
      ...(a.pushName ? { pushName: a.pushName } : {}),
      devices: this.state.devicesOf(a).map(d => d.jid)
    }))
  }

  deviceInfos(): DeviceInfo[] {
    return this.state.listDevices().map(d => this.deviceInfo(d))
  }

  deviceInfo(d: DeviceRecord): DeviceInfo {
    return {
      jid: d.jid,
      lid: d.lid,
      online: this.isOnline(d),
      preKeyCount: d.preKeys.size,
      preKeyUploads: d.preKeyUploads,
      pendingCount: d.pending.length,
      liveConnections: [...this.connections].filter(conn => !conn.closed && conn.device?.jid === d.jid).length,
      kicks: { ...this.kicksOf(d.jid) }
    }
  }

  log(message: string): void {
    this.logger(message)
  }

  // ---- connections ----

  onHandshake(conn: SimConnection, clientStatic: Buffer, payload: ProtoTypes.ClientPayload): void {
    if (payload.username !== null && payload.username !== undefined) return this.login(conn, clientStatic, payload)
    if (payload.devicePairingData) return this.register(conn, clientStatic, payload.devicePairingData, payload.pushName ?? undefined)
    conn.end({ tag: 'failure', attrs: { reason: '400', location: 'sim' } })
  }

  private login(conn: SimConnection, clientStatic: Buffer, payload: ProtoTypes.ClientPayload): void {
    const jid = `${payload.username!.toString()}:${payload.device ?? 0}@s.whatsapp.net`
    const device = this.state.byNoiseKey(clientStatic)
    if (!device || device.jid !== jid) {
      this.log(`login refused for ${jid}: unknown or removed device`)
      conn.end({ tag: 'failure', attrs: { reason: '401', location: 'sim' } })
      return
    }
    const previous = this.online.get(device.jid)
    if (previous && previous !== conn) this.sendKick(previous, device, 'replaced')
    conn.device = device
    this.online.set(device.jid, conn)
    this.log(`${device.jid} logged in (connection ${conn.id})`)
    conn.later(POST_HANDSHAKE_DELAY_MS, () => {
      conn.send({ tag: 'success', attrs: { t: unixNow(), lid: device.lid, location: 'sim', creation: Math.floor(device.linkedAt / 1000).toString() } })
      this.handshaking.delete(conn)
      conn.later(FLUSH_FALLBACK_MS, () => this.flushPending(conn))
    })
  }

  private register(conn: SimConnection, clientStatic: Buffer, data: ProtoTypes.ClientPayload.IDevicePairingRegistrationData, pushName?: string): void {
    const { eRegid, eIdent, eSkeyId, eSkeyVal, eSkeySig } = data
    const valid =
      eRegid?.length === 4 &&
      eIdent?.length === 32 &&
      eSkeyId?.length === 3 &&
      eSkeyVal?.length === 32 &&
      eSkeySig?.length === 64 &&
      verifySignature(eIdent, withKeyType(eSkeyVal), eSkeySig)
    if (!valid) {
      this.log(`registration refused on connection ${conn.id}: bad key bundle`)
      conn.end({ tag: 'failure', attrs: { reason: '400', location: 'sim' } })
      return
    }
    conn.registration = {
      ...(pushName ? { pushName } : {}),
      noiseKey: clientStatic,
      registrationId: Buffer.from(eRegid!).readUInt32BE(0),
      identityKey: Buffer.from(eIdent!),
      signedPreKey: { id: Buffer.from(eSkeyId!).readUIntBE(0, 3), value: Buffer.from(eSkeyVal!), signature: Buffer.from(eSkeySig!) }
    }
    conn.refs = Array.from({ length: QR_REFS }, () => `2@${randomBytes(24).toString('base64')}`)
    for (const ref of conn.refs) this.refs.set(ref, conn)
    conn.later(POST_HANDSHAKE_DELAY_MS, () => {
      this.handshaking.delete(conn)
      conn
        .query({
          tag: 'iq',
          attrs: { from: 's.whatsapp.net', type: 'set', xmlns: 'md' },
          content: [{ tag: 'pair-device', attrs: {}, content: conn.refs.map(ref => ({ tag: 'ref', attrs: {}, content: Buffer.from(ref) })) }]
        })
        .catch(() => undefined)
    })
  }

  onNode(conn: SimConnection, node: BinaryNode): Promise<void> {
    return handleNode(this, conn, node)
  }

  onClose(conn: SimConnection): void {
    this.connections.delete(conn)
    this.handshaking.delete(conn)
    for (const ref of conn.refs) this.refs.delete(ref)
    if (conn.device && this.online.get(conn.device.jid) === conn) this.online.delete(conn.device.jid)
  }

  connectionForRef(ref: string): SimConnection | undefined {
    const conn = this.refs.get(ref)
    return conn && !conn.closed ? conn : undefined
  }

  codeRequests(): SimConnection[] {
    const own = `${this.state.account.pn}@s.whatsapp.net`
    return [...this.connections].filter(conn => !conn.closed && conn.registration && conn.codeRequest?.jid === own).reverse()
  }

  isOnline(device: DeviceRecord): boolean {
    const conn = this.online.get(device.jid)
    return !!conn && !conn.closed
  }

  // ---- delivery ----

  flushPending(conn: SimConnection): void {
    const device = conn.device
    if (conn.ready || conn.closed || !device) return
    conn.ready = true
    const pending = takeOffline(device)
    for (const stanza of pending) conn.send(stanza)
    conn.send({ tag: 'ib', attrs: { from: 's.whatsapp.net' }, content: [{ tag: 'offline', attrs: { count: pending.length.toString() } }] })
    // After <offline>: that is when the client starts waiting for it. Again at each login until
    // the client confirmed it (a crash before that would otherwise hold its next login 20 s).
    if (!device.historySynced && this.historySync) conn.send(historySyncNotification(device.account))
  }

  deliver(device: DeviceRecord, stanza: BinaryNode): void {
    const conn = this.online.get(device.jid)
    if (conn?.ready && !conn.closed && !conn.silent) return conn.send(stanza)
    queueOffline(device, stanza)
  }

  /** The devices a contact's message goes to: the default phone's. */
  targets(): DeviceRecord[] {
    return this.state.devicesOf(this.state.account)
  }

  takeBundle(device: DeviceRecord) {
    return this.state.takeBundle(device)
  }

  // ---- contacts ----

  contact(pn: string, options: { name?: string; lid?: string } = {}): Contact {
    const existing = this.contacts.get(pn)
    if (existing) return existing
    const contact = new Contact(pn, options.lid ?? lidForPhone(pn, '99'), options.name ?? `Contact ${pn}`, this)
    this.contacts.set(contact.pn, contact)
    this.contacts.set(contact.lid, contact)
    return contact
  }

  contactByUser(user: string | undefined): Contact | undefined {
    return user ? this.contacts.get(user) : undefined
  }

  // ---- kicks ----

  /**
   * Disconnects a device (its PN or LID JID, with device number) or every device of the account
   * (a JID without device). 'logout' also removes the device: its next login gets 401.
   * Returns how many live connections were told.
   */
  kick(jid: string, reason: KickReason): number {
    let told = 0
    for (const device of this.devicesFor(jid)) {
      if (reason === 'logout') this.state.removeDevice(device)
      const conn = this.online.get(device.jid)
      if (conn && !conn.closed) {
        this.sendKick(conn, device, reason)
        told++
      }
    }
    return told
  }

  /** Ends a live connection of `device` with the kick's stanza, and counts the kick. */
  private sendKick(conn: SimConnection, device: DeviceRecord, reason: KickReason): void {
    if (conn.closed) return
    this.kicksOf(device.jid)[reason]++
    conn.end(KICK_NODES[reason])
  }

  private kicksOf(jid: string): Record<KickReason, number> {
    let counts = this.kicked.get(jid)
    if (!counts) this.kicked.set(jid, (counts = Object.fromEntries(KICK_REASONS.map(r => [r, 0])) as Record<KickReason, number>))
    return counts
  }

  /**
   * Makes the live connections of a device (or of every device of the account) half-open for
   * `ms`; stanzas for the device wait in its queue meanwhile. Returns how many were silenced.
   */
  silence(jid: string, ms: number): number {
    checkDuration(ms, 'ms', { min: 1 })
    let silenced = 0
    for (const device of this.devicesFor(jid)) {
      const conn = this.online.get(device.jid)
      if (!conn || conn.closed) continue
      conn.silence(ms, () => this.resumeDelivery(conn))
      silenced++
    }
    return silenced
  }

  /** After a silence, what queued up meanwhile goes out on the connection that is still there. */
  private resumeDelivery(conn: SimConnection): void {
    const device = conn.device
    if (!device || !conn.ready || this.online.get(device.jid) !== conn) return
    for (const stanza of takeOffline(device)) conn.send(stanza)
  }

  /** The devices a JID names: one device (with device number) or all of the account (without). */
  private devicesFor(jid: string): DeviceRecord[] {
    const decoded = jidDecode(jid)
    if (decoded?.device) return [this.state.byJid(jid)].filter(d => !!d)
    const account = this.state.accountByUser(decoded?.user)
    return account ? this.state.devicesOf(account) : []
  }

  unlink(device: DeviceRecord): void {
    this.log(`${device.jid} logged out`)
    this.state.removeDevice(device)
  }
}
