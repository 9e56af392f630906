/**
 * The simulated phone: owns the account and links a companion device from its QR code, the way
 * the real phone does (signed device identity, HMAC with the QR's ADV secret, pair-success, 515).
 */
import { Curve, getBinaryNodeChild, hmacSign, proto, type BinaryNode } from '@whiskeysockets/baileys'
import { randomInt } from 'node:crypto'
import { VaultError } from '../core/errors.js'
import { verifySignature } from './certs.js'
import type { SimConnection } from './connection.js'
import { unixNow, type Account, type DeviceRecord, type SimState } from './state.js'

const QR_PREFIX = 'https://wa.me/settings/linked_devices#'
const ACCOUNT_SIG_PREFIX = Buffer.from([6, 0])
const DEVICE_SIG_PREFIX = Buffer.from([6, 1])

export interface PhoneHost {
  state: SimState
  /** The registering connection that offered this ref, if it is still open. */
  connectionForRef(ref: string): SimConnection | undefined
}

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
  const [ref, noise, identity, adv, platformId] = parts
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

    const account = this.account
    const deviceId = account.nextDeviceId++
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
    const hmac = hmacSign(signed, parsed.advSecret)
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
    this.checkDeviceSignature(reply, details, reg.identityKey)

    const device: DeviceRecord = {
      ...reg,
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
  private checkDeviceSignature(reply: BinaryNode, details: Uint8Array, identityKey: Buffer): void {
    const sign = getBinaryNodeChild(reply, 'pair-device-sign')
    const node = getBinaryNodeChild(sign, 'device-identity')
    if (!(node?.content instanceof Uint8Array)) throw new VaultError('INVALID_ARGUMENT', 'The client did not countersign the device identity.')
    const account = proto.ADVSignedDeviceIdentity.decode(node.content)
    const message = Buffer.concat([DEVICE_SIG_PREFIX, details, identityKey, this.account.accountKey.public])
    if (!account.deviceSignature || !verifySignature(identityKey, message, account.deviceSignature)) {
      throw new VaultError('INVALID_ARGUMENT', 'The client countersigned the device identity with a wrong signature.')
    }
  }
}
