/**
 * A simulated WhatsApp contact: its own Signal identity on Baileys' own Signal code (the same
 * repository the client uses), able to send texts to the linked devices and decrypt replies.
 */
import {
  addTransactionCapability,
  DEFAULT_CONNECTION_CONFIG,
  encodeBigEndian,
  encodeWAMessage,
  initAuthCreds,
  jidEncode,
  proto,
  unpadRandomMax16,
  Curve,
  type AuthenticationCreds,
  type BinaryNode,
  type SignalDataSet,
  type SignalDataTypeMap,
  type SignalKeyStore,
  type ProtoTypes
} from '../core/baileys.js'
import { VaultError } from '../core/errors.js'
import { silentLogger } from './silent-logger.js'
import { newMessageId, unixNow, type DeviceRecord, type PreKeyBundle } from './state.js'

/** What the contact needs from the simulator. */
export interface ContactHost {
  /** The devices a message to the account goes to (all linked devices). */
  targets(): DeviceRecord[]
  takeBundle(device: DeviceRecord): PreKeyBundle
  /** Delivers now if the device is online and ready, else queues it for its next login. */
  deliver(device: DeviceRecord, stanza: BinaryNode): void
}

export interface ReceivedMessage {
  /** Message id chosen by the sending client. */
  id: string
  /** The sending device's LID JID. */
  from: string
  /** 'pkmsg' or 'msg'. */
  type: string
  text: string | undefined
  message: ProtoTypes.IMessage
}

export interface SentMessage {
  id: string
  /** One entry per target device: 'pkmsg' until the session is confirmed, then 'msg'. */
  types: Array<'pkmsg' | 'msg'>
  devices: string[]
}

/** Retry receipts per message before the contact gives up on it. */
const MAX_RETRIES = 3
/** Sent texts kept for a retry receipt asking for them again. */
const SENT_KEPT = 200

let quietDepth = 0
let saved: Pick<Console, 'info' | 'warn'> | undefined

/** libsignal's own diagnostics; "Closing session:" and friends print whole records, private keys included. */
export const isLibsignalChatter = (args: unknown[]): boolean =>
  typeof args[0] === 'string' &&
  /^(Closing session|Opening session|Removing old closed session|Closing open session|Session already (closed|open)|Decrypted message with closed session|Migrating session)/.test(
    args[0]
  )

/**
 * Keeps libsignal's session dumps out of the output while the contact's Signal operations run.
 * Only those messages are dropped; everything else still reaches the console.
 */
async function quietLibsignal<T>(fn: () => Promise<T>): Promise<T> {
  if (quietDepth++ === 0) {
    saved = { info: console.info, warn: console.warn }
    const { info, warn } = saved
    console.info = (...args: unknown[]) => void (isLibsignalChatter(args) || info.apply(console, args))
    console.warn = (...args: unknown[]) => void (isLibsignalChatter(args) || warn.apply(console, args))
  }
  try {
    return await fn()
  } finally {
    if (--quietDepth === 0 && saved) {
      console.info = saved.info
      console.warn = saved.warn
    }
  }
}

function memoryKeys(): SignalKeyStore {
  const data = new Map<string, Map<string, unknown>>()
  return {
    get<T extends keyof SignalDataTypeMap>(type: T, ids: string[]) {
      const bucket = data.get(type)
      const out: { [id: string]: SignalDataTypeMap[T] } = {}
      for (const id of ids) {
        const value = bucket?.get(id)
        if (value !== undefined) out[id] = value as SignalDataTypeMap[T]
      }
      return out
    },
    set(set: SignalDataSet) {
      for (const type in set) {
        const values = set[type as keyof SignalDataSet]!
        let bucket = data.get(type)
        if (!bucket) data.set(type, (bucket = new Map()))
        for (const id in values) {
          const value = values[id]
          if (value === null || value === undefined) bucket.delete(id)
          else bucket.set(id, value)
        }
      }
    }
  }
}

export class Contact {
  /** '15550001111@s.whatsapp.net' */
  readonly jid: string
  /** '9915550001111@lid' */
  readonly lidJid: string
  /** Retry receipts the linked device sent for this contact's messages (decryption failures). */
  retryReceipts = 0
  /** Messages from devices this contact could not decrypt, and their ids (the last SENT_KEPT). */
  readonly decryptErrors: Error[] = []
  readonly undecryptedIds: string[] = []
  /** Retry receipts this contact sent to a device for a message it could not decrypt. */
  retriesSent = 0
  /**
   * Retry receipts both ways, as a phone: asks again for a message it cannot decrypt, and resends
   * one a device could not decrypt. Tests turn it off to see a forked session stay forked.
   */
  usesRetryReceipts = true
  /** Retry receipts sent per message id (a phone gives up after a few). */
  private readonly retries = new Map<string, number>()
  /** Texts sent lately by id, and resends per device and id (see resend). */
  private readonly sent = new Map<string, string>()
  private readonly resends = new Map<string, number>()
  /** Which device sent each message this contact received lately (see requestRetry). */
  private readonly receivedFrom = new Map<string, DeviceRecord>()

  private readonly creds: AuthenticationCreds = initAuthCreds()
  private readonly rawKeys = memoryKeys()
  private readonly keys = addTransactionCapability(this.rawKeys, silentLogger, { maxCommitRetries: 1, delayBetweenTriesMs: 10 })
  private readonly repo = DEFAULT_CONNECTION_CONFIG.makeSignalRepository({ creds: this.creds, keys: this.keys }, silentLogger, async () => [])
  private nextPreKeyId = 1
  private readonly inbox: ReceivedMessage[] = []
  private readonly waiting: Array<(msg: ReceivedMessage) => void> = []
  private queue: Promise<unknown> = Promise.resolve()
  /** Resolves while incoming messages are let through (see holdIncoming). */
  private incoming: Promise<void> = Promise.resolve()

  constructor(
    /** Phone-number user, e.g. '15550001111'. */
    readonly pn: string,
    /** LID user. */
    readonly lid: string,
    /** The push name the linked device sees. */
    readonly name: string,
    private readonly host: ContactHost
  ) {
    this.jid = jidEncode(pn, 's.whatsapp.net')
    this.lidJid = jidEncode(lid, 'lid')
  }

  /**
   * Encrypts `text` for every linked device of the account (or only the device `options.to`,
   * its PN or LID JID) and hands it to the server. Resolves once the message is delivered or
   * queued for an offline device.
   */
  sendText(text: string, options: { to?: string } = {}): Promise<SentMessage> {
    return this.serial(async () => {
      const all = this.host.targets()
      const devices = options.to === undefined ? all : all.filter(d => d.jid === options.to || d.lid === options.to)
      if (devices.length === 0) {
        throw new VaultError(
          'NOT_FOUND',
          options.to ? `No linked device ${options.to}.` : 'The simulated phone has no linked device to send to; scan a QR code first.'
        )
      }
      const id = newMessageId()
      this.remember(id, text)
      const types: SentMessage['types'] = []
      for (const device of devices) types.push(await this.sendTo(device, id, text, { freshSession: false }))
      return { id, types, devices: devices.map(d => d.jid) }
    })
  }

  /** Encrypts and delivers one message to one device; a fresh session comes from a new bundle of its keys. */
  private async sendTo(device: DeviceRecord, id: string, text: string, { freshSession }: { freshSession: boolean }) {
    const exists = !freshSession && (await this.repo.validateSession(device.lid)).exists
    if (!exists) await this.repo.injectE2ESession({ jid: device.lid, session: this.host.takeBundle(device) })
    const { type, ciphertext } = await this.repo.encryptMessage({ jid: device.lid, data: encodeWAMessage({ conversation: text }) })
    this.host.deliver(device, {
      tag: 'message',
      attrs: { from: this.jid, sender_lid: this.lidJid, id, t: unixNow(), type: 'text', notify: this.name },
      content: [{ tag: 'enc', attrs: { v: '2', type }, content: ciphertext }]
    })
    return type
  }

  /** Keeps the last SENT_KEPT texts by id: a retry receipt asks for one again. */
  private remember(id: string, text: string): void {
    this.sent.set(id, text)
    if (this.sent.size > SENT_KEPT) this.sent.delete(this.sent.keys().next().value!)
  }

  /**
   * A device could not decrypt message `id` (it sent a retry receipt): as a phone does, send it
   * again to that device on a fresh session from a new bundle of its keys (a pkmsg), at most
   * MAX_RETRIES times. False when the text is no longer kept or the retries are used up.
   */
  resend(device: DeviceRecord, id: string): Promise<boolean> {
    return this.serial(async () => {
      const text = this.sent.get(id)
      const key = `${device.jid} ${id}`
      const count = (this.resends.get(key) ?? 0) + 1
      if (!this.usesRetryReceipts || text === undefined || count > MAX_RETRIES) return false
      this.resends.set(key, count)
      await this.sendTo(device, id, text, { freshSession: true })
      return true
    })
  }

  /** The next message a linked device sent to this contact (already received ones first). */
  nextMessage(timeoutMs = 10_000): Promise<ReceivedMessage> {
    const ready = this.inbox.shift()
    if (ready) return Promise.resolve(ready)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiting.indexOf(deliver)
        if (i !== -1) this.waiting.splice(i, 1)
        reject(new Error(`contact ${this.pn} received no message within ${timeoutMs} ms`))
      }, timeoutMs)
      const deliver = (msg: ReceivedMessage) => {
        clearTimeout(timer)
        resolve(msg)
      }
      this.waiting.push(deliver)
    })
  }

  /** Messages received and not yet taken with nextMessage(). */
  get pendingMessages(): number {
    return this.inbox.length
  }

  /**
   * Until the returned function is called, messages from linked devices wait before this contact
   * decrypts them (in arrival order), while what it sends still goes out: two messages cross, as
   * when a phone's uplink is faster than its downlink.
   */
  holdIncoming(): () => void {
    let release!: () => void
    this.incoming = new Promise(resolve => (release = resolve))
    return release
  }

  /** Decrypts an `<enc>` a linked device addressed to this contact. Throws if it cannot. */
  receive(from: DeviceRecord, id: string, enc: BinaryNode): Promise<ReceivedMessage> {
    const held = this.incoming
    return held.then(() => this.serial(() => this.decrypt(from, id, enc)))
  }

  private async decrypt(from: DeviceRecord, id: string, enc: BinaryNode): Promise<ReceivedMessage> {
    const type = enc.attrs.type
    if ((type !== 'pkmsg' && type !== 'msg') || !(enc.content instanceof Uint8Array)) {
      throw new Error(`unsupported enc type ${type}`)
    }
    let message: ProtoTypes.Message
    try {
      const plain = await this.repo.decryptMessage({ jid: from.lid, type, ciphertext: enc.content })
      message = proto.Message.decode(unpadRandomMax16(plain))
    } catch (err) {
      this.decryptErrors.push(err as Error)
      this.undecryptedIds.push(id)
      if (this.undecryptedIds.length > SENT_KEPT) this.undecryptedIds.shift()
      this.askForRetry(from, id)
      throw err
    }
    const text = message.conversation ?? message.extendedTextMessage?.text ?? undefined
    const received: ReceivedMessage = { id, from: from.lid, type, text, message }
    this.receivedFrom.set(id, from)
    if (this.receivedFrom.size > SENT_KEPT) this.receivedFrom.delete(this.receivedFrom.keys().next().value!)
    const waiter = this.waiting.shift()
    if (waiter) waiter(received)
    else this.inbox.push(received)
    return received
  }

  /**
   * As a phone that could not decrypt message `id` (which a linked device sent it): a retry
   * receipt to that device, delivered now or queued until it reconnects. The device then sends
   * the message again under the same id (nextMessage returns it), if it still has it.
   */
  requestRetry(id: string): Promise<{ to: string }> {
    return this.serial(async () => {
      const device = this.receivedFrom.get(id)
      if (!device) throw new VaultError('NOT_FOUND', `Contact ${this.pn} received no message ${id} lately; ask for a retry of a message it received.`)
      this.askForRetry(device, id, { force: true })
      return { to: device.jid }
    })
  }

  /** This contact's key bundle, as the server returns it to `encrypt get <key>`. */
  bundleNode(jid: string): BinaryNode {
    const keyId = this.nextPreKeyId++
    const preKey = Curve.generateKeyPair()
    // Synchronous: the contact's store knows the pre-key before anyone can use it.
    void this.rawKeys.set({ 'pre-key': { [keyId]: preKey } })
    const { signedPreKey, signedIdentityKey, registrationId } = this.creds
    return {
      tag: 'user',
      attrs: { jid },
      content: [
        { tag: 'registration', attrs: {}, content: encodeBigEndian(registrationId, 4) },
        { tag: 'type', attrs: {}, content: Buffer.from([5]) },
        { tag: 'identity', attrs: {}, content: signedIdentityKey.public },
        {
          tag: 'skey',
          attrs: {},
          content: [
            { tag: 'id', attrs: {}, content: encodeBigEndian(signedPreKey.keyId, 3) },
            { tag: 'value', attrs: {}, content: signedPreKey.keyPair.public },
            { tag: 'signature', attrs: {}, content: signedPreKey.signature }
          ]
        },
        {
          tag: 'key',
          attrs: {},
          content: [
            { tag: 'id', attrs: {}, content: encodeBigEndian(keyId, 3) },
            { tag: 'value', attrs: {}, content: preKey.public }
          ]
        }
      ]
    }
  }

  /**
   * What a phone does with a message it cannot decrypt (Bad MAC: the two sides' sessions forked):
   * a retry receipt to the sending device carrying a fresh key bundle. Baileys then builds a new
   * session from that bundle and sends the message again as a pkmsg, which this contact decrypts
   * into a new session. At most MAX_RETRIES per message, as a phone gives up too.
   */
  private askForRetry(device: DeviceRecord, id: string, options: { force?: boolean } = {}): void {
    const count = (this.retries.get(id) ?? 0) + 1
    if (!options.force && (!this.usesRetryReceipts || count > MAX_RETRIES)) return
    this.retries.set(id, count)
    this.retriesSent++
    const bundle = this.bundleNode(device.lid)
    const part = (tag: string) => (bundle.content as BinaryNode[]).find(n => n.tag === tag)!
    const t = unixNow()
    this.host.deliver(device, {
      tag: 'receipt',
      attrs: { from: this.jid, id, type: 'retry', t },
      content: [
        { tag: 'retry', attrs: { count: count.toString(), id, t, v: '1' } },
        part('registration'),
        { tag: 'keys', attrs: {}, content: [part('type'), part('identity'), part('key'), part('skey')] }
      ]
    })
  }

  /** Signal operations of one contact run one at a time, in call order. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const quiet = () => quietLibsignal(fn)
    const run = this.queue.then(quiet, quiet)
    this.queue = run.catch(() => undefined)
    return run
  }
}
