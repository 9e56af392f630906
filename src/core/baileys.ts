/**
 * The one place baileys-vault loads Baileys from. Baileys is published as
 * `@whiskeysockets/baileys` and as `baileys` (the name in its own package.json); both are
 * optional peers, and whichever the application installed is loaded, so the process holds one
 * copy (two copies would each keep their own protobuf classes and connection defaults). When
 * both are installed, `@whiskeysockets/baileys` wins. Types come from `@whiskeysockets/baileys`
 * at build time; the two packages publish the same code.
 */
import { createRequire } from 'node:module'
import type * as Baileys from '@whiskeysockets/baileys'
import { VaultError } from './errors.js'

export type {
  AuthenticationCreds,
  BinaryNode,
  CacheStore,
  ConnectionState,
  KeyPair,
  SignalDataSet,
  SignalDataTypeMap,
  SignalKeyStore,
  SocketConfig,
  UserFacingSocketConfig,
  WAMessage,
  WAMessageKey,
  WASocket
} from '@whiskeysockets/baileys'
/** Baileys' protobuf types (proto.IMessage as ProtoTypes.IMessage); the value `proto` is below. */
export type { proto as ProtoTypes } from '@whiskeysockets/baileys'

export const BAILEYS_PACKAGES = ['@whiskeysockets/baileys', 'baileys'] as const

/** Whether `err` says the package itself is not installed (not a module missing inside it). */
const notInstalled = (err: unknown, name: string) =>
  (err as NodeJS.ErrnoException)?.code === 'ERR_MODULE_NOT_FOUND' && String((err as Error).message).includes(`'${name}'`)

async function loadBaileys(): Promise<{ module: typeof Baileys; name: string }> {
  for (const name of BAILEYS_PACKAGES) {
    try {
      return { module: (await import(name)) as typeof Baileys, name }
    } catch (err) {
      if (!notInstalled(err, name)) throw err
    }
  }
  throw new VaultError(
    'NOT_FOUND',
    'baileys-vault needs Baileys 7, installed under either of its names: `@whiskeysockets/baileys` or `baileys` ' +
      '(npm install @whiskeysockets/baileys, or npm install baileys). Neither was found.'
  )
}

const loaded = await loadBaileys()
const baileys = loaded.module

/** The package name Baileys was loaded from. */
export const baileysPackage: string = loaded.name

/** require() as seen from the loaded Baileys: its own dependencies (libsignal), also under strict layouts (pnpm). */
export const requireFromBaileys = createRequire(import.meta.resolve(baileysPackage))

export const makeWASocket: typeof Baileys.default = baileys.default
/** A value and a namespace of types (proto.IMessage), as in Baileys. */
export const proto: typeof Baileys.proto = baileys.proto
export const {
  Curve,
  DEFAULT_CONNECTION_CONFIG,
  INITIAL_PREKEY_COUNT,
  MIN_PREKEY_COUNT,
  NOISE_MODE,
  NOISE_WA_HEADER,
  WA_CERT_DETAILS,
  addTransactionCapability,
  aesDecryptCTR,
  aesDecryptGCM,
  aesEncryptCTR,
  aesEncryptGCM,
  decodeBinaryNode,
  derivePairingCodeKey,
  encodeBigEndian,
  encodeBinaryNode,
  encodeWAMessage,
  generateMessageIDV2,
  getBinaryNodeChild,
  getBinaryNodeChildBuffer,
  getBinaryNodeChildren,
  hkdf,
  hmacSign,
  initAuthCreds,
  isJidGroup,
  jidDecode,
  jidEncode,
  jidNormalizedUser,
  sha256,
  unpadRandomMax16
} = baileys
