/**
 * The simulated phone: owns the account and links a companion device from its QR code or from
 * the 8-character code the companion shows, the way the real phone does (signed device identity,
 * HMAC with the ADV secret, pair-success, 515).
 */
import { Curve, getBinaryNodeChild, getBinaryNodeChildBuffer, hmacSign, proto, type BinaryNode } from '../core/baileys.js'
import { randomInt } from 'node:crypto'
import { VaultError } from '../core/errors.js'
import { verifySignature } from './certs.js'
import type { SimConnection } from './connection.js'
import { openKeyBundle, unwrapEphemeral, wrapEphemeral } from './link-code.js'
import { newMessageId, unixNow, type Account, type DeviceRecord, type Registration, type SimState } from './state.js'

const QR_PREFIX = 'https://wa.me/settings/linked_devices#'
const ACCOUNT_SIG_PREFIX = Buffer.from([6, 0])
const DEVICE_SIG_PREFIX = Buffer.from([6, 1])

export interface PhoneHost {
  state: SimState
  /** The registering connection that offered this ref, if it is still open. */
  connectionForRef(ref: string): SimConnection | undefined
  /** Open registering connections that asked to link by code to this phone, newest first. */
  codeRequests(): SimConnection[]
}

export interface EnterCodeOptions {
  /** How long to wait for a companion's code request to reach the server. Default 2000 ms. */
  waitMs?: number
}

/** How long the companion gets to answer the phone's hello with its key bundle. */
const COMPANION_FINISH_TIMEOUT_MS = 10_000
const CODE_POLL_MS = 20

export interface LinkedDevice {
  jid: string
  lid: string
  deviceId: number
}

export interface ParsedQr {
  ref: string
  noiseKey: Buffer
  identityKey: Buffer
  advSecret: Buffer
  platformId: string
}

export function parseQr(qr: string): ParsedQr {
  const parts = qr.startsWith(QR_PREFIX) ? qr.slice(QR_PREFIX.length).split(',') : []
  if (parts.length !== 5 || parts.some(p => p.length === 0)) {
    throw new VaultError('INVALID_ARGUMENT', 'Not a WhatsApp linking QR code (expected https://wa.me/settings/linked_devices#ref,noise,identity,adv,platform).')
  }
  const [ref = '', noise = '', identity = '', adv = '', platformId = ''] = parts // five non-empty parts: checked above
  return {
    ref,
    noiseKey: Buffer.from(noise, 'base64'),
    identityKey: Buffer.from(identity, 'base64'),
    advSecret: Buffer.from(adv, 'base64'),
    platformId
  }
}

export class Phone {
  constructor(private readonly host: PhoneHost) {}

  get account(): Account {
    return this.host.state.account
  }

  /** '15550009999@s.whatsapp.net' */
  get jid(): string {
    return `${this.account.pn}@s.whatsapp.net`
  }

  /**
   * Links the device showing `qr`. Resolves once the device has signed its identity and was told
   * to restart (515); the client then reconnects with its saved creds.
   */
  async scan(qr: string): Promise<LinkedDevice> {
    const parsed = parseQr(qr)
    const conn = this.host.connectionForRef(parsed.ref)
    const reg = conn?.registration
    if (!conn || !reg) throw new VaultError('NOT_FOUND', 'No connection is waiting with this QR code; it expired or the client disconnected.')
    if (!reg.noiseKey.equals(parsed.noiseKey) || !reg.identityKey.equals(parsed.identityKey)) {
      throw new VaultError('INVALID_ARGUMENT', 'The QR code does not match the keys its connection registered with.')
    }
    // A client that announced a push name becomes (a device of) that name's account.
    return this.link(conn, reg, parsed.advSecret, this.host.state.accountFor(reg))
  }

  /**
   * Links the device that asked (`sock.requestPairingCode`) to link with this code, as a user
   * typing it on the phone: the phone's ephemeral key goes to the companion wrapped with the
   * code, the companion answers with its key bundle, both derive the ADV secret, then
   * pair-success and 515 as with a QR code. A code no waiting device shows is NOT_FOUND and
   * links nothing.
   */
  async enterCode(code: string, options: EnterCodeOptions = {}): Promise<LinkedDevice> {
    const typed = typeof code === 'string' ? code.trim().replace(/^(\w{4})-(\w{4})$/, '$1$2') : ''
    if (typed.length !== 8) throw new VaultError('INVALID_ARGUMENT', 'A pairing code has 8 characters, like ABCD1234 or ABCD-1234.')
    const deadline = Date.now() + (options.waitMs ?? 2_000)
    let candidates = this.host.codeRequests()
    while (candidates.length === 0 && Date.now() < deadline) {
      await new Promise(resolve => setTimeout(resolve, CODE_POLL_MS))
      candidates = this.host.codeRequests()
    }
    for (const conn of candidates) {
      const linked = await this.tryCode(conn, typed)
      if (linked) return linked
    }
    throw new VaultError('NOT_FOUND', 'No device is waiting to link with this code: check the code, or have the client request a new one.')
  }

  /** Runs the code exchange with one waiting companion; undefined when the code is not its code. */
  private async tryCode(conn: SimConnection, code: string): Promise<LinkedDevice | undefined> {
    const request = conn.codeRequest
    const reg = conn.registration
    if (!request || !reg || conn.closed) return undefined
    const companionEphemeral = await unwrapEphemeral(code, request.wrappedEphemeral)
    if (!companionEphemeral) return undefined
    const phoneEphemeral = Curve.generateKeyPair()
    const wrappedPhoneEphemeral = await wrapEphemeral(code, phoneEphemeral.public)
    // Watch for the answer before sending, and only after the last await: a rejection (timeout,
    // close) always has its handler attached.
    const finish = conn.awaitNode(
      node => node.tag === 'iq' && getBinaryNodeChild(node, 'link_code_companion_reg')?.attrs.stage === 'companion_finish',
      COMPANION_FINISH_TIMEOUT_MS
    )
    conn.send({
      tag: 'notification',
      attrs: { from: 's.whatsapp.net', type: 'link_code_companion_reg', id: newMessageId(), t: unixNow() },
      content: [
        {
          tag: 'link_code_companion_reg',
          attrs: { stage: 'primary_hello' },
          content: [
            { tag: 'link_code_pairing_ref', attrs: {}, content: Buffer.from(request.ref) },
            { tag: 'primary_identity_pub', attrs: {}, content: this.account.accountKey.public },
            { tag: 'link_code_pairing_wrapped_primary_ephemeral_pub', attrs: {}, content: wrappedPhoneEphemeral }
          ]
        }
      ]
    })
    const reply = getBinaryNodeChild(await finish.catch(() => undefined), 'link_code_companion_reg')
    const bundle = getBinaryNodeChildBuffer(reply, 'link_code_pairing_wrapped_key_bundle')
    if (!bundle) return undefined
    let opened: ReturnType<typeof openKeyBundle>
    try {
      opened = openKeyBundle({ bundle: Buffer.from(bundle), phoneEphemeral, companionEphemeral, accountKey: this.account.accountKey })
    } catch {
      // The bundle does not open: the companion derived its keys from another code.
      return undefined
    }
    if (!opened.companionIdentity.equals(reg.identityKey)) return undefined
    conn.codeRequest = undefined
    return this.link(conn, reg, opened.advSecret, this.account)
  }

  /** Signs the device identity for `reg`, sends pair-success and records the device; then 515. */
  private async link(conn: SimConnection, reg: Registration, advSecret: Buffer, account: Account): Promise<LinkedDevice> {
    const deviceId = account.takeDeviceId()
    const keyIndex = account.nextKeyIndex++
    const details = proto.ADVDeviceIdentity.encode({
      rawId: randomInt(1, 2 ** 31),
      timestamp: Math.floor(Date.now() / 1000),
      keyIndex,
      accountType: proto.ADVEncryptionType.E2EE,
      deviceType: proto.ADVEncryptionType.E2EE
    }).finish()
    const accountSignature = Curve.sign(account.accountKey.private, Buffer.concat([ACCOUNT_SIG_PREFIX, details, reg.identityKey]))
    const signed = proto.ADVSignedDeviceIdentity.encode({
      details,
      accountSignatureKey: account.accountKey.public,
      accountSignature
    }).finish()
    const hmac = hmacSign(signed, advSecret)
    const identity = proto.ADVSignedDeviceIdentityHMAC.encode({ details: signed, hmac }).finish()

    const jid = `${account.pn}:${deviceId}@s.whatsapp.net`
    const lid = `${account.lid}:${deviceId}@lid`
    const reply = await conn.query({
      tag: 'iq',
      attrs: { from: 's.whatsapp.net', type: 'set', xmlns: 'md', t: unixNow() },
      content: [
        {
          tag: 'pair-success',
          attrs: {},
          content: [
            { tag: 'device-identity', attrs: {}, content: identity },
            { tag: 'platform', attrs: { name: 'android' } },
            { tag: 'device', attrs: { jid, lid } }
          ]
        }
      ]
    })
    this.checkDeviceSignature(reply, details, reg.identityKey, account)

    const device: DeviceRecord = {
      ...reg,
      account,
      id: deviceId,
      jid,
      lid,
      keyIndex,
      preKeys: new Map(),
      preKeyUploads: 0,
      pending: [],
      linkedAt: Date.now()
    }
    this.host.state.addDevice(device)
    // The real server asks the freshly paired client to log in again.
    conn.end({ tag: 'stream:error', attrs: { code: '515' } })
    return { jid, lid, deviceId }
  }

  /** The client proves it holds the identity key by countersigning the device identity. */
  private checkDeviceSignature(reply: BinaryNode, details: Uint8Array, identityKey: Buffer, account: Account): void {
    const sign = getBinaryNodeChild(reply, 'pair-device-sign')
    const node = getBinaryNodeChild(sign, 'device-identity')
    if (!(node?.content instanceof Uint8Array)) throw new VaultError('INVALID_ARGUMENT', 'The client did not countersign the device identity.')
    const signed = proto.ADVSignedDeviceIdentity.decode(node.content)
    const message = Buffer.concat([DEVICE_SIG_PREFIX, details, identityKey, account.accountKey.public])
    if (!signed.deviceSignature || !verifySignature(identityKey, message, signed.deviceSignature)) {
      throw new VaultError('INVALID_ARGUMENT', 'The client countersigned the device identity with a wrong signature.')
    }
  }
}
