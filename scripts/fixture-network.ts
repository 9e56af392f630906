/**
 * What the account's phone and the WhatsApp server hand a fixture device, shaped as the real
 * ones send it, so that Baileys' own functions turn it into creds and keys. Nothing here writes
 * a creds field or a key: Baileys does that.
 */
import { Curve, getBinaryNodeChild, getBinaryNodeChildren, hmacSign, proto, type BinaryNode, type KeyPair } from '@whiskeysockets/baileys'
import { randomBytes, randomInt } from 'node:crypto'

const ACCOUNT_SIG_PREFIX = Buffer.from([6, 0])

/**
 * The phone's `pair-success` for a companion: a device identity signed with the account key and
 * HMACed with the QR code's ADV secret, which Baileys' configureSuccessfulPairing verifies and
 * countersigns.
 */
export function pairSuccess(options: {
  accountKey: KeyPair
  /** The companion's identity public key (creds.signedIdentityKey.public). */
  identityKey: Uint8Array
  advSecretKey: string
  jid: string
  lid: string
  platform: string
}): BinaryNode {
  const details = proto.ADVDeviceIdentity.encode({
    rawId: randomInt(1, 2 ** 31),
    timestamp: Math.floor(Date.now() / 1000),
    keyIndex: 1,
    accountType: proto.ADVEncryptionType.E2EE,
    deviceType: proto.ADVEncryptionType.E2EE
  }).finish()
  const accountSignature = Curve.sign(options.accountKey.private, Buffer.concat([ACCOUNT_SIG_PREFIX, details, options.identityKey]))
  const signed = proto.ADVSignedDeviceIdentity.encode({ details, accountSignatureKey: options.accountKey.public, accountSignature }).finish()
  const hmac = hmacSign(signed, Buffer.from(options.advSecretKey, 'base64'))
  return {
    tag: 'iq',
    attrs: { from: 's.whatsapp.net', type: 'set', xmlns: 'md', id: randomBytes(4).toString('hex') },
    content: [
      {
        tag: 'pair-success',
        attrs: {},
        content: [
          { tag: 'device-identity', attrs: {}, content: proto.ADVSignedDeviceIdentityHMAC.encode({ details: signed, hmac }).finish() },
          { tag: 'platform', attrs: { name: options.platform } },
          { tag: 'device', attrs: { jid: options.jid, lid: options.lid } }
        ]
      }
    ]
  }
}

/**
 * The server's pre-key store: keeps what devices upload (Baileys' getNextPreKeysNode) and hands
 * out each one-time pre-key once, in the `encrypt` IQ result Baileys' parseAndInjectE2ESessions reads.
 */
export class KeyServer {
  private readonly uploads = new Map<string, { fields: BinaryNode[]; skey: BinaryNode; keys: BinaryNode[] }>()

  upload(jid: string, iq: BinaryNode): void {
    const field = (tag: string) => {
      const node = getBinaryNodeChild(iq, tag)
      if (!node) throw new Error(`pre-key upload of ${jid} has no <${tag}>`)
      return node
    }
    this.uploads.set(jid, {
      fields: [field('registration'), field('type'), field('identity')],
      skey: field('skey'),
      keys: getBinaryNodeChildren(field('list'), 'key')
    })
  }

  bundle(jid: string): BinaryNode {
    const upload = this.uploads.get(jid)
    const key = upload?.keys.shift()
    if (!upload || !key) throw new Error(`no pre-key of ${jid} left on the server`)
    const user: BinaryNode = { tag: 'user', attrs: { jid }, content: [...upload.fields, upload.skey, key] }
    return { tag: 'iq', attrs: { type: 'result' }, content: [{ tag: 'list', attrs: {}, content: [user] }] }
  }
}

/** The server's answer to a privacy-token issuance: one trusted-contact token for `jid`. */
export function privacyTokenResult(jid: string, timestamp: number): BinaryNode {
  const token: BinaryNode = { tag: 'token', attrs: { jid, t: String(timestamp), type: 'trusted_contact' }, content: randomBytes(24) }
  return { tag: 'iq', attrs: { type: 'result' }, content: [{ tag: 'tokens', attrs: {}, content: [token] }] }
}

/** The app state sync key the primary phone shares with a new companion, as it arrives (decoded). */
export function appStateSyncKeyShare(keyId: Buffer): proto.Message.IAppStateSyncKey[] {
  const share = proto.Message.AppStateSyncKeyShare.encode({
    keys: [
      {
        keyId: { keyId },
        keyData: {
          keyData: randomBytes(32),
          fingerprint: { rawId: randomInt(1, 2 ** 31), currentIndex: 1, deviceIndexes: [0, 1] },
          timestamp: Date.now()
        }
      }
    ]
  }).finish()
  return proto.Message.AppStateSyncKeyShare.decode(share).keys
}
