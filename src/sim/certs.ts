/**
 * The simulator's certificate chain: its own root key signs an intermediate, which signs a leaf
 * for the Noise static key. The client checks the intermediate against WA_CERT_DETAILS.PUBLIC_KEY,
 * so tests point that at our root (trustSimulator) instead of relying on the client's lax check.
 */
import { Curve, proto, requireFromBaileys, WA_CERT_DETAILS, type KeyPair, type ProtoTypes } from '../core/baileys.js'

export interface CertAuthority {
  root: KeyPair
  /** Encoded proto.CertChain sent in ServerHello. */
  chain: Uint8Array
}

const YEAR_S = 365 * 24 * 3600

function certificate(details: ProtoTypes.CertChain.NoiseCertificate.IDetails, signer: Uint8Array) {
  const bytes = proto.CertChain.NoiseCertificate.Details.encode(details).finish()
  return { details: bytes, signature: Curve.sign(signer, bytes) }
}

/** Builds a chain for `noiseStatic`, rooted at `root` (a fresh key unless given). */
export function makeCertAuthority(noiseStatic: KeyPair, root: KeyPair = Curve.generateKeyPair()): CertAuthority {
  const intermediateKey = Curve.generateKeyPair()
  const now = Math.floor(Date.now() / 1000)
  // issuerSerial must be written explicitly: the client compares it with WA_CERT_DETAILS.SERIAL (0).
  const intermediate = certificate(
    { serial: 1, issuerSerial: WA_CERT_DETAILS.SERIAL, key: intermediateKey.public, notBefore: now - 60, notAfter: now + YEAR_S },
    root.private
  )
  const leaf = certificate({ serial: 2, issuerSerial: 1, key: noiseStatic.public, notBefore: now - 60, notAfter: now + YEAR_S }, intermediateKey.private)
  return { root, chain: proto.CertChain.encode({ leaf, intermediate }).finish() }
}

/**
 * Makes Baileys in this process trust a simulator's root key. Returns a function that restores
 * the previous key. Never call this in production code: it is the key of a test server.
 */
export function trustSimulator(rootPublicKey: Uint8Array | { rootPublicKey: Uint8Array }): () => void {
  const key = rootPublicKey instanceof Uint8Array ? rootPublicKey : rootPublicKey.rootPublicKey
  const previous = WA_CERT_DETAILS.PUBLIC_KEY
  WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(key)
  return () => {
    WA_CERT_DETAILS.PUBLIC_KEY = previous
  }
}

// libsignal is Baileys' dependency; resolved from there so strict installs (pnpm) work too.
const curve: { verifySignature(pub: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean } = requireFromBaileys('libsignal/src/curve.js')

/**
 * A real XEdDSA check. Baileys' Curve.verify treats libsignal's `false` as success, so the
 * server verifies signatures itself to catch bugs the client would not.
 */
export function verifySignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    const pub = publicKey.length === 33 ? Buffer.from(publicKey) : Buffer.concat([Buffer.from([5]), publicKey])
    return curve.verifySignature(pub, Buffer.from(message), Buffer.from(signature)) === true
  } catch {
    return false
  }
}
