/**
 * What the simulated server remembers: the phone's account and, per linked device, the Noise
 * static key it logs in with, its registration data, the pre-keys it uploaded and the stanzas
 * waiting for it while it is offline. In memory only: a simulator lives as long as its tests.
 */
import { randomInt } from 'node:crypto'
import { Curve, jidDecode, type BinaryNode, type KeyPair } from '../core/baileys.js'
import type { KickReason } from './kicks.js'

export interface SignedPreKey {
  id: number
  value: Buffer
  signature: Buffer
}

/** What a device sent when it registered (ClientPayload.devicePairingData). */
export interface Registration {
  noiseKey: Buffer
  registrationId: number
  identityKey: Buffer
  signedPreKey: SignedPreKey
}

export interface DeviceRecord extends Registration {
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

/** A Signal bundle as Baileys' injectE2ESession takes it (keys with the 0x05 prefix). */
export interface PreKeyBundle {
  registrationId: number
  identityKey: Buffer
  signedPreKey: { keyId: number; publicKey: Buffer; signature: Buffer }
  preKey?: { keyId: number; publicKey: Buffer }
}

export const withKeyType = (key: Uint8Array): Buffer => (key.length === 33 ? Buffer.from(key) : Buffer.concat([Buffer.from([5]), key]))

export class Account {
  /** The account key that signs each linked device's identity (the phone holds it). */
  readonly accountKey: KeyPair = Curve.generateKeyPair()
  nextDeviceId = 1
  nextKeyIndex = 1
  constructor(
    /** Phone-number user, e.g. '15550009999'. */
    readonly pn: string,
    /** LID user, e.g. '88880009999'. */
    readonly lid: string
  ) {}
}

export class SimState {
  private readonly devices = new Map<string, DeviceRecord>()

  constructor(readonly account: Account) {}

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
    const account = server === 'lid' ? this.account.lid : this.account.pn
    if (user !== account) return undefined
    return this.listDevices().find(d => d.id === device)
  }

  /** True when `user` (without device) is the phone's account, in PN or LID form. */
  isOwnUser(user: string | undefined): boolean {
    return user === this.account.pn || user === this.account.lid
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
