/**
 * What the simulated server remembers: the accounts (the default phone's, and one per push name
 * a linking client announced), per linked device the Noise static key it logs in with, its
 * registration data, the pre-keys it uploaded and the stanzas waiting for it while it is
 * offline. In memory only: a simulator lives as long as its tests.
 */
import { createHash, randomInt } from 'node:crypto'
import { Curve, jidDecode, type BinaryNode, type KeyPair } from '../core/baileys.js'
import type { KickReason } from './kicks.js'

export interface SignedPreKey {
  id: number
  value: Buffer
  signature: Buffer
}

/** What a device sent when it registered (ClientPayload.devicePairingData). */
export interface Registration {
  /** The push name in the registration payload (makeWASocket's `pushName`), if any. */
  pushName?: string
  noiseKey: Buffer
  registrationId: number
  identityKey: Buffer
  signedPreKey: SignedPreKey
}

export interface DeviceRecord extends Registration {
  /** The account the device is linked to. */
  account: Account
  /** Device number on the account (1, 2, …; 0 is the phone). */
  id: number
  /** '15550009999:1@s.whatsapp.net' */
  jid: string
  /** '88880009999:1@lid' */
  lid: string
  keyIndex: number
  /** One-time pre-keys still on the server, by id. Each is handed out once. */
  preKeys: Map<number, Buffer>
  /** Number of pre-key upload IQs received. */
  preKeyUploads: number
  /** Stanzas queued while the device was offline, delivered at its next login. */
  pending: BinaryNode[]
  linkedAt: number
  /** The device confirmed the history-sync notification (its `hist_sync` receipt). */
  historySynced?: boolean
}

/** A device as the server sees it (the public, key-free view of a DeviceRecord). */
export interface DeviceInfo {
  jid: string
  lid: string
  online: boolean
  /** One-time pre-keys the server still holds for the device. */
  preKeyCount: number
  /** Pre-key uploads the device made. */
  preKeyUploads: number
  /** Stanzas waiting for the device's next login. */
  pendingCount: number
  /**
   * Connections logged in as the device and not closed yet: 1 while it is online; 2 only for
   * the moment a second login replaces the first (which the server kicks with 'replaced').
   */
  liveConnections: number
  /** Kick stanzas the server sent to the device's connections, by reason ('replaced': 440, a second login). */
  kicks: Record<KickReason, number>
}

/** An account as the server sees it. */
export interface AccountInfo {
  /** Phone-number user, e.g. '15550009999'. */
  pn: string
  lid: string
  pushName?: string
  /** JIDs of its linked devices. */
  devices: string[]
}

/** A Signal bundle as Baileys' injectE2ESession takes it (keys with the 0x05 prefix). */
export interface PreKeyBundle {
  registrationId: number
  identityKey: Buffer
  signedPreKey: { keyId: number; publicKey: Buffer; signature: Buffer }
  preKey?: { keyId: number; publicKey: Buffer }
}

export const withKeyType = (key: Uint8Array): Buffer => (key.length === 33 ? Buffer.from(key) : Buffer.concat([Buffer.from([5]), key]))

const HOSTED_DEVICE_ID = 99

export class Account {
  /** The account key that signs each linked device's identity (the phone holds it). */
  readonly accountKey: KeyPair = Curve.generateKeyPair()
  private nextDeviceId = 1
  nextKeyIndex = 1

  constructor(
    /** Phone-number user, e.g. '15550009999'. */
    readonly pn: string,
    /** LID user, e.g. '88880009999'. */
    readonly lid: string,
    /** The name other users see (`notify`); set from the registration or a presence update. */
    public pushName?: string
  ) {}

  /**
   * The next companion device id. 99 is skipped: WhatsApp gives it to hosted devices, and Baileys
   * refuses a companion with it ("Unexpected non-hosted device JID with device 99"), so an account
   * with that many linked devices (the soak links 100) could not send at all.
   */
  takeDeviceId(): number {
    if (this.nextDeviceId === HOSTED_DEVICE_ID) this.nextDeviceId++
    return this.nextDeviceId++
  }

  get pnJid(): string {
    return `${this.pn}@s.whatsapp.net`
  }

  get lidJid(): string {
    return `${this.lid}@lid`
  }
}

/**
 * How linking clients map to accounts. 'by-push-name' (the default): a client whose registration
 * carries a push name gets the account of that name, created with a phone number derived from the
 * name on first sight, so two clients are two users who can talk to each other; a client without
 * a push name links to the default phone. 'single': every client is a device of the default phone.
 */
export type AccountMode = 'by-push-name' | 'single'

/** The phone number a push name gets: '1' + 10 digits of SHA-256(name), stable across runs. */
export function phoneForPushName(pushName: string, attempt = 0): string {
  const digest = createHash('sha256')
    .update(attempt ? `${pushName}#${attempt}` : pushName)
    .digest()
  return `1${(digest.readBigUInt64BE(0) % 10_000_000_000n).toString().padStart(10, '0')}`
}

export class SimState {
  private readonly devices = new Map<string, DeviceRecord>()
  /** Every account by PN user and by LID user. */
  private readonly accounts = new Map<string, Account>()
  private readonly byPushName = new Map<string, Account>()

  constructor(
    readonly account: Account,
    readonly accountMode: AccountMode = 'by-push-name'
  ) {
    this.addAccount(account)
  }

  private addAccount(account: Account): void {
    this.accounts.set(account.pn, account)
    this.accounts.set(account.lid, account)
  }

  /**
   * The account a registering client links to: its push name's (created on first sight) in
   * 'by-push-name' mode, else the default phone's.
   */
  accountFor(registration: Pick<Registration, 'pushName'>): Account {
    const name = registration.pushName
    if (this.accountMode === 'single' || !name) return this.account
    const known = this.byPushName.get(name)
    if (known) return known
    let pn = phoneForPushName(name)
    // Another name hashed to the same number (rare): take the next candidate, still deterministic per order.
    for (let attempt = 1; this.accounts.has(pn) || this.accounts.has(lidForPhone(pn, '88')); attempt++) pn = phoneForPushName(name, attempt)
    const account = new Account(pn, lidForPhone(pn, '88'), name)
    this.addAccount(account)
    this.byPushName.set(name, account)
    return account
  }

  /** The account a user part (PN or LID, no device) names, if any. */
  accountByUser(user: string | undefined): Account | undefined {
    return user === undefined ? undefined : this.accounts.get(user)
  }

  /** Every account, the default phone's first. */
  listAccounts(): Account[] {
    return [...new Set(this.accounts.values())]
  }

  /** The linked devices of one account. */
  devicesOf(account: Account): DeviceRecord[] {
    return this.listDevices().filter(d => d.account === account)
  }

  addDevice(device: DeviceRecord): void {
    this.devices.set(device.jid, device)
  }

  /** Forgets a device: its next login gets 401. */
  removeDevice(device: DeviceRecord): void {
    this.devices.delete(device.jid)
  }

  listDevices(): DeviceRecord[] {
    return [...this.devices.values()]
  }

  byNoiseKey(noiseKey: Uint8Array): DeviceRecord | undefined {
    const key = Buffer.from(noiseKey)
    for (const device of this.devices.values()) if (device.noiseKey.equals(key)) return device
    return undefined
  }

  /** Finds a device by its PN or LID JID (with the device number). */
  byJid(jid: string): DeviceRecord | undefined {
    const decoded = jidDecode(jid)
    if (!decoded?.device) return undefined
    const { user, device, server } = decoded
    const account = this.accounts.get(user)
    if (!account || user !== (server === 'lid' ? account.lid : account.pn)) return undefined
    return this.devicesOf(account).find(d => d.id === device)
  }

  /** A bundle for the device, consuming one one-time pre-key if any is left. */
  takeBundle(device: DeviceRecord): PreKeyBundle {
    let preKey: PreKeyBundle['preKey']
    const first = device.preKeys.entries().next()
    if (!first.done) {
      const [keyId, value] = first.value
      device.preKeys.delete(keyId)
      preKey = { keyId, publicKey: withKeyType(value) }
    }
    return {
      registrationId: device.registrationId,
      identityKey: withKeyType(device.identityKey),
      signedPreKey: {
        keyId: device.signedPreKey.id,
        publicKey: withKeyType(device.signedPreKey.value),
        signature: device.signedPreKey.signature
      },
      preKey
    }
  }
}

/** A stable-looking LID user for a phone number (the real mapping is random; tests want it fixed). */
export const lidForPhone = (pn: string, prefix: string): string => `${prefix}${pn}`

/** Message ids shaped like the real ones (upper-case hex). */
export const newMessageId = (): string =>
  '3EB0' +
  Array.from({ length: 8 }, () => randomInt(0, 256).toString(16).padStart(2, '0'))
    .join('')
    .toUpperCase()

export const unixNow = (): string => Math.floor(Date.now() / 1000).toString()
