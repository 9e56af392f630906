import {
  addTransactionCapability,
  DEFAULT_CONNECTION_CONFIG,
  proto,
  type AuthenticationState,
  type SignalKeyStore,
  type SignalKeyStoreWithTransaction
} from '@whiskeysockets/baileys'
import { Curve } from '@whiskeysockets/baileys'
import { silentLogger } from '../../src/sim/silent-logger.js'

const makeLibSignalRepository = DEFAULT_CONNECTION_CONFIG.makeSignalRepository

export type Envelope = { type: 'pkmsg' | 'msg'; ciphertext: Uint8Array }
export type GroupEnvelope = { ciphertext: Uint8Array; skdm: Uint8Array }

/**
 * A WhatsApp device as Baileys' socket runs it: Baileys' own Signal repository over an auth
 * state, with the key store wrapped in Baileys' transaction layer exactly as makeWASocket does.
 * Messages are plain text; what matters is that every ciphertext decrypts.
 */
export class SignalDevice {
  readonly repo: ReturnType<typeof makeLibSignalRepository>
  /** The key store as the socket hands it around: wrapped in Baileys' transaction layer. */
  readonly keys: SignalKeyStoreWithTransaction

  constructor(
    /** PN device jid, e.g. '15550000001:0@s.whatsapp.net'. */
    readonly jid: string,
    readonly auth: AuthenticationState,
    private readonly saveCreds: () => Promise<void> = async () => {}
  ) {
    this.keys = addTransactionCapability(auth.keys as SignalKeyStore, silentLogger, { maxCommitRetries: 1, delayBetweenTriesMs: 10 })
    this.repo = makeLibSignalRepository({ creds: auth.creds, keys: this.keys }, silentLogger)
  }

  /** A pre-key bundle as the server would hand it out: one fresh one-time pre-key. */
  async preKeyBundle() {
    const { creds } = this.auth
    const keyId = creds.nextPreKeyId
    const preKey = Curve.generateKeyPair()
    await this.auth.keys.set({ 'pre-key': { [keyId]: preKey } })
    creds.nextPreKeyId = keyId + 1
    creds.firstUnuploadedPreKeyId = keyId + 1
    await this.saveCreds()
    return {
      registrationId: creds.registrationId,
      identityKey: Buffer.concat([Buffer.from([5]), Buffer.from(creds.signedIdentityKey.public)]),
      signedPreKey: {
        keyId: creds.signedPreKey.keyId,
        publicKey: Buffer.concat([Buffer.from([5]), Buffer.from(creds.signedPreKey.keyPair.public)]),
        signature: creds.signedPreKey.signature
      },
      preKey: { keyId, publicKey: Buffer.concat([Buffer.from([5]), Buffer.from(preKey.public)]) }
    }
  }

  async startSessionWith(peer: SignalDevice): Promise<void> {
    await this.repo.injectE2ESession({ jid: peer.jid, session: await peer.preKeyBundle() })
  }

  send(to: string, text: string): Promise<Envelope> {
    return this.repo.encryptMessage({ jid: to, data: Buffer.from(text) })
  }

  async receive(from: string, envelope: Envelope): Promise<string> {
    return Buffer.from(await this.repo.decryptMessage({ jid: from, ...envelope })).toString()
  }

  async sendGroup(group: string, text: string): Promise<GroupEnvelope> {
    const { ciphertext, senderKeyDistributionMessage } = await this.repo.encryptGroupMessage({ group, meId: this.jid, data: Buffer.from(text) })
    return { ciphertext, skdm: senderKeyDistributionMessage }
  }

  /**
   * Decrypts a group message. With `withSkdm`, first processes the sender key distribution
   * message, as a receiver does the first time (it arrives inside a 1:1 message).
   */
  async receiveGroup(group: string, from: string, envelope: GroupEnvelope, withSkdm = false): Promise<string> {
    if (withSkdm) {
      const item = proto.Message.SenderKeyDistributionMessage.fromObject({ groupId: group, axolotlSenderKeyDistributionMessage: envelope.skdm })
      await this.repo.processSenderKeyDistributionMessage({ item, authorJid: from })
    }
    return Buffer.from(await this.repo.decryptGroupMessage({ group, authorJid: from, msg: envelope.ciphertext })).toString()
  }
}

/** One message a -> b, checked. Returns the text for assertions. */
export async function deliver(from: SignalDevice, to: SignalDevice, text: string): Promise<string> {
  const envelope = await from.send(to.jid, text)
  const got = await to.receive(from.jid, envelope)
  if (got !== text) throw new Error(`decrypted "${got}", expected "${text}"`)
  return got
}
