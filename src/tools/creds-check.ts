import { proto } from '../core/baileys.js'
import { asBytes, isKeyPairShape, keyPairMatches } from './keypair.js'
import type { Finding } from './findings.js'
import { verifySignature } from './signal.js'
import type { StoredValue } from '../codec/stored-value.js'

const ADV_ACCOUNT_SIG_PREFIX = Buffer.from([6, 0])
const ADV_HOSTED_ACCOUNT_SIG_PREFIX = Buffer.from([6, 5])
const ADV_DEVICE_SIG_PREFIX = Buffer.from([6, 1])
const ADV_HOSTED_DEVICE_SIG_PREFIX = Buffer.from([6, 6])

const RESTORE = 'Restore the creds from a backup taken before the damage (baileys-vault restore), or log out and link the device again.'

const isInt = (v: unknown, min: number, max = Number.MAX_SAFE_INTEGER) => Number.isInteger(v) && (v as number) >= min && (v as number) <= max
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Field checks: [name, required, valid?, expected shape]. Mirrors Baileys 7's AuthenticationCreds. */
const FIELDS: Array<[string, boolean, (v: StoredValue) => boolean, string]> = [
  ['noiseKey', true, isKeyPairShape, 'a key pair of 32-byte keys'],
  ['pairingEphemeralKeyPair', true, isKeyPairShape, 'a key pair of 32-byte keys'],
  ['signedIdentityKey', true, isKeyPairShape, 'a key pair of 32-byte keys'],
  [
    'signedPreKey',
    true,
    v => isObject(v) && isKeyPairShape(v.keyPair) && v.signature instanceof Uint8Array && v.signature.length === 64 && isInt(v.keyId, 0),
    '{ keyPair, signature (64 bytes), keyId }'
  ],
  ['registrationId', true, v => isInt(v, 0, 16383), 'an integer from 0 to 16383'],
  ['advSecretKey', true, v => typeof v === 'string' && asBytes(v)?.length === 32, 'a base64 string of 32 bytes'],
  ['nextPreKeyId', true, v => isInt(v, 1), 'a positive integer'],
  ['firstUnuploadedPreKeyId', true, v => isInt(v, 1), 'a positive integer'],
  ['accountSyncCounter', true, v => isInt(v, 0), 'a non-negative integer'],
  ['accountSettings', true, isObject, 'an object'],
  ['processedHistoryMessages', true, Array.isArray, 'an array'],
  ['registered', false, v => typeof v === 'boolean', 'a boolean'],
  ['me', false, v => isObject(v) && typeof v.id === 'string' && (v.lid === undefined || typeof v.lid === 'string'), '{ id, lid?, name? }'],
  ['account', false, isObject, 'an ADVSignedDeviceIdentity'],
  [
    'signalIdentities',
    false,
    v => Array.isArray(v) && v.every(i => isObject(i) && isObject(i.identifier) && i.identifierKey instanceof Uint8Array),
    'an array of { identifier, identifierKey }'
  ],
  ['platform', false, v => typeof v === 'string', 'a string'],
  ['myAppStateKeyId', false, v => typeof v === 'string' && v.length > 0, 'a key id string'],
  ['routingInfo', false, v => v instanceof Uint8Array, 'bytes'],
  ['lastPropHash', false, v => typeof v === 'string', 'a string'],
  ['pairingCode', false, v => typeof v === 'string', 'a string']
]

/** A session is linked once pairing succeeded: `me` is set (or the pairing-code flow marked it registered). */
export const isLinked = (creds: StoredValue): boolean => !!creds?.me?.id || !!creds?.account || creds?.registered === true

export interface CheckCredsOptions {
  /**
   * Verify the signed pre-key and ADV signatures. Default true. Each check is an XEdDSA verify
   * in libsignal's pure-JS curve (tens of ms of CPU): doctor does them, the runtime's preflight
   * before every connect does not.
   */
  signatures?: boolean
}

/**
 * Offline checks of one session's creds: completeness and types, key pairs, the signed
 * pre-key signature, and the ADV account and device signatures as Baileys' pairing made them
 * (validate-connection.js, configureSuccessfulPairing). Messages never contain key material.
 */
export function checkCreds(creds: StoredValue, options: CheckCredsOptions = {}): Finding[] {
  const signatures = options.signatures ?? true
  const findings: Finding[] = []
  const missing: string[] = []
  const invalid: string[] = []
  for (const [name, required, valid, shape] of FIELDS) {
    const v = creds[name]
    if (v === undefined || v === null) {
      if (required) missing.push(name)
    } else if (!valid(v)) invalid.push(`${name} (expected ${shape})`)
  }
  if (missing.length > 0) {
    findings.push({ severity: 'error', code: 'CREDS_INCOMPLETE', message: `Creds lack ${missing.join(', ')}.`, fix: RESTORE })
  }
  if (invalid.length > 0) {
    findings.push({ severity: 'error', code: 'CREDS_FIELD_INVALID', message: `Creds fields have the wrong type: ${invalid.join('; ')}.`, fix: RESTORE })
  }

  for (const name of ['noiseKey', 'pairingEphemeralKeyPair', 'signedIdentityKey'] as const) {
    if (isKeyPairShape(creds[name]) && !keyPairMatches(creds[name])) {
      findings.push({ severity: 'error', code: 'KEY_PAIR_MISMATCH', message: `${name}: the public key does not belong to the private key.`, fix: RESTORE })
    }
  }
  const identity = creds.signedIdentityKey
  const spk = creds.signedPreKey
  if (isObject(spk) && isKeyPairShape(spk.keyPair)) {
    if (!keyPairMatches(spk.keyPair)) {
      findings.push({
        severity: 'error',
        code: 'KEY_PAIR_MISMATCH',
        message: 'signedPreKey.keyPair: the public key does not belong to the private key.',
        fix: RESTORE
      })
    }
    if (signatures && isKeyPairShape(identity) && spk.signature instanceof Uint8Array) {
      // Baileys' signedKeyPair: sign(identity.private, 0x05 || preKey.public)
      const signed = Buffer.concat([Buffer.from([5]), spk.keyPair.public])
      if (!verifySignature(identity.public, signed, spk.signature)) {
        findings.push({
          severity: 'error',
          code: 'SIGNED_PRE_KEY_SIGNATURE_INVALID',
          message: `The signature of signed pre-key ${String(spk.keyId)} is not valid for the identity key: peers will refuse to start sessions with this device.`,
          fix: RESTORE
        })
      }
    }
  }

  if (isInt(creds.nextPreKeyId, 1) && isInt(creds.firstUnuploadedPreKeyId, 1) && creds.firstUnuploadedPreKeyId > creds.nextPreKeyId) {
    findings.push({
      severity: 'error',
      code: 'PRE_KEY_COUNTERS_INVALID',
      message: `firstUnuploadedPreKeyId (${creds.firstUnuploadedPreKeyId}) is above nextPreKeyId (${creds.nextPreKeyId}): Baileys would upload pre-keys that do not exist.`,
      fix: 'Restore creds and keys from one backup; the creds come from a different moment than the keys.'
    })
  }

  if (!isLinked(creds)) {
    findings.push({
      severity: 'info',
      code: 'NOT_LINKED',
      message: 'This session was never linked to a phone (no me, no account): it is a new device, not damaged.',
      fix: 'Start the bot and scan the QR code (or enter the pairing code) to link it.'
    })
    return findings
  }
  if (!creds.me?.id) {
    findings.push({ severity: 'error', code: 'ME_MISSING', message: 'The session is registered but creds.me is not set: Baileys cannot log in.', fix: RESTORE })
  } else if (!/^[0-9]+(:[0-9]+)?@(s\.whatsapp\.net|hosted)$/.test(creds.me.id)) {
    findings.push({ severity: 'warning', code: 'ME_INVALID', message: 'creds.me.id is not a WhatsApp device JID.', fix: RESTORE })
  }
  if (!isObject(creds.account)) {
    findings.push({
      severity: 'error',
      code: 'ACCOUNT_MISSING',
      message: 'The session is linked but creds.account (the signed device identity) is missing: Baileys cannot send messages that start sessions.',
      fix: RESTORE
    })
    return findings
  }
  findings.push(...checkAccount(creds.account, identity, signatures), ...checkSignalIdentities(creds))
  return findings
}

function checkAccount(account: Record<string, unknown>, identity: unknown, signatures: boolean): Finding[] {
  const details = asBytes(account.details)
  const accountKey = asBytes(account.accountSignatureKey)
  const accountSig = asBytes(account.accountSignature)
  const deviceSig = asBytes(account.deviceSignature)
  if (!details || !accountKey || accountKey.length !== 32 || !accountSig || accountSig.length !== 64 || !deviceSig || deviceSig.length !== 64) {
    return [
      {
        severity: 'error',
        code: 'ACCOUNT_INVALID',
        message: 'creds.account lacks details, a 32-byte accountSignatureKey, or 64-byte account/device signatures.',
        fix: RESTORE
      }
    ]
  }
  let hosted = false
  try {
    hosted = proto.ADVDeviceIdentity.decode(details).deviceType === proto.ADVEncryptionType.HOSTED
  } catch {
    return [{ severity: 'error', code: 'ACCOUNT_INVALID', message: 'creds.account.details is not an ADVDeviceIdentity.', fix: RESTORE }]
  }
  if (!signatures || !isKeyPairShape(identity)) return []
  const findings: Finding[] = []
  // configureSuccessfulPairing: the phone signs (prefix || details || our identity public key).
  const accountMsg = Buffer.concat([hosted ? ADV_HOSTED_ACCOUNT_SIG_PREFIX : ADV_ACCOUNT_SIG_PREFIX, details, identity.public])
  if (!verifySignature(accountKey, accountMsg, accountSig)) {
    findings.push({
      severity: 'error',
      code: 'ACCOUNT_SIGNATURE_INVALID',
      message: "The account signature in creds.account is not valid for this device's identity key: WhatsApp will reject this device.",
      fix: RESTORE
    })
  }
  // ... and we sign (prefix || details || identity public || account key) with the identity key.
  const deviceMsg = (prefix: Buffer) => Buffer.concat([prefix, details, identity.public, accountKey])
  if (
    !verifySignature(identity.public, deviceMsg(ADV_DEVICE_SIG_PREFIX), deviceSig) &&
    !(hosted && verifySignature(identity.public, deviceMsg(ADV_HOSTED_DEVICE_SIG_PREFIX), deviceSig))
  ) {
    findings.push({
      severity: 'error',
      code: 'DEVICE_SIGNATURE_INVALID',
      message: 'The device signature in creds.account was not made with this identity key.',
      fix: RESTORE
    })
  }
  return findings
}

/** Baileys trusts the primary phone through the signal identity it stored at pairing. */
function checkSignalIdentities(creds: StoredValue): Finding[] {
  const accountKey = asBytes(creds.account?.accountSignatureKey)
  if (!accountKey || accountKey.length !== 32 || !Array.isArray(creds.signalIdentities)) return []
  const expected = Buffer.concat([Buffer.from([5]), accountKey])
  const found = creds.signalIdentities.some(
    (i: StoredValue) => i?.identifierKey instanceof Uint8Array && Buffer.compare(Buffer.from(i.identifierKey), expected) === 0
  )
  if (found) return []
  return [
    {
      severity: 'warning',
      code: 'SIGNAL_IDENTITY_MISSING',
      message: "creds.signalIdentities has no entry for the account's signature key (stored at pairing).",
      fix: RESTORE
    }
  ]
}
