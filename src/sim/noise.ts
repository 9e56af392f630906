/**
 * Server side of WhatsApp's transport: 3-byte length framing and Noise_XX_25519_AESGCM_SHA256.
 * Built on Baileys' own crypto helpers, so the server computes exactly what the client checks.
 */
import { hkdfSync } from 'node:crypto'
import { aesDecryptGCM, aesEncryptGCM, Curve, NOISE_MODE, NOISE_WA_HEADER, proto, sha256, type KeyPair, type ProtoTypes } from '../core/baileys.js'

/** Largest frame the simulator accepts; the 812-key pre-key upload is about 40 KB. */
export const MAX_FRAME_BYTES = 1 << 20

/** A protocol violation by the peer: the connection is closed, the server carries on. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError'
}

export function encodeFrame(payload: Uint8Array): Buffer {
  if (payload.length >= 1 << 24) throw new ProtocolError('frame too large to encode')
  const frame = Buffer.allocUnsafe(payload.length + 3)
  frame.writeUIntBE(payload.length, 0, 3)
  frame.set(payload, 3)
  return frame
}

/**
 * Splits the byte stream into frames. Frame and WebSocket message boundaries need not line up.
 * The first bytes are the client's intro header ('ED' routing prefix optional, then WA 06 03).
 */
export class FrameReader {
  private buffer = Buffer.alloc(0)
  private introDone = false

  push(chunk: Uint8Array): Buffer[] {
    this.buffer = this.buffer.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buffer, chunk])
    if (!this.introDone && !this.readIntro()) return []
    const frames: Buffer[] = []
    while (this.buffer.length >= 3) {
      const size = this.buffer.readUIntBE(0, 3)
      if (size > MAX_FRAME_BYTES) throw new ProtocolError(`frame of ${size} bytes exceeds the limit`)
      if (this.buffer.length < size + 3) break
      frames.push(this.buffer.subarray(3, size + 3))
      this.buffer = this.buffer.subarray(size + 3)
    }
    if (this.buffer.length > MAX_FRAME_BYTES + 3) throw new ProtocolError('too much unframed data')
    return frames
  }

  /** Consumes the intro header; false while more bytes are needed. */
  private readIntro(): boolean {
    let offset = 0
    if (this.buffer.length >= 1 && this.buffer[0] === 0x45 /* E */) {
      if (this.buffer.length < 7) return false
      if (this.buffer[1] !== 0x44 /* D */) throw new ProtocolError('bad intro header')
      const len = (this.buffer.readUInt8(4) << 16) | this.buffer.readUInt16BE(5)
      offset = 7 + len
    }
    if (this.buffer.length < offset + NOISE_WA_HEADER.length) {
      // A header of any other shape can be rejected as soon as its first bytes are seen.
      const seen = this.buffer.subarray(offset)
      if (!NOISE_WA_HEADER.subarray(0, seen.length).equals(seen)) throw new ProtocolError('bad intro header')
      return false
    }
    if (!this.buffer.subarray(offset, offset + NOISE_WA_HEADER.length).equals(NOISE_WA_HEADER)) {
      throw new ProtocolError('bad intro header')
    }
    this.buffer = this.buffer.subarray(offset + NOISE_WA_HEADER.length)
    this.introDone = true
    return true
  }
}

const iv = (counter: number) => {
  const bytes = Buffer.alloc(12)
  bytes.writeUInt32BE(counter, 8)
  return bytes
}

/** The transport phase: one key and one counter per direction, empty AAD. */
export class Transport {
  private readCounter = 0
  private writeCounter = 0
  constructor(
    private readonly decKey: Buffer,
    private readonly encKey: Buffer
  ) {}

  encrypt(plaintext: Uint8Array): Buffer {
    return aesEncryptGCM(plaintext, this.encKey, iv(this.writeCounter++), Buffer.alloc(0))
  }

  /** Throws ProtocolError on a wrong tag (a tampered or replayed frame). */
  decrypt(ciphertext: Uint8Array): Buffer {
    if (ciphertext.length < 16) throw new ProtocolError('frame shorter than its tag')
    try {
      return aesDecryptGCM(ciphertext, this.decKey, iv(this.readCounter++), Buffer.alloc(0))
    } catch {
      throw new ProtocolError('frame failed authentication')
    }
  }
}

export interface HandshakeResult {
  /** The client's Noise static public key (creds.noiseKey.public): its identity toward the server. */
  clientStatic: Buffer
  payload: ProtoTypes.ClientPayload
  transport: Transport
}

/** One server-side Noise XX handshake (responder). */
export class NoiseResponder {
  private hash: Buffer
  private salt: Buffer
  private key: Buffer
  private counter = 0
  private readonly ephemeral: KeyPair = Curve.generateKeyPair()
  private clientEphemeral?: Buffer

  constructor(
    private readonly staticKey: KeyPair,
    private readonly certChain: Uint8Array
  ) {
    const mode = Buffer.from(NOISE_MODE)
    this.hash = this.salt = this.key = mode.length === 32 ? mode : sha256(mode)
    this.mixHash(NOISE_WA_HEADER)
  }

  /** Handles ClientHello; returns the encoded ServerHello. */
  serverHello(frame: Uint8Array): Buffer {
    const clientEphemeral = decodeHandshake(frame).clientHello?.ephemeral
    if (!clientEphemeral || clientEphemeral.length !== 32) throw new ProtocolError('expected ClientHello')
    this.clientEphemeral = Buffer.from(clientEphemeral)
    this.mixHash(this.clientEphemeral)
    this.mixHash(this.ephemeral.public)
    this.mixKey(Curve.sharedKey(this.ephemeral.private, this.clientEphemeral))
    const encStatic = this.encryptAndHash(this.staticKey.public)
    this.mixKey(Curve.sharedKey(this.staticKey.private, this.clientEphemeral))
    const payload = this.encryptAndHash(this.certChain)
    const hello = { serverHello: { ephemeral: this.ephemeral.public, static: encStatic, payload } }
    return Buffer.from(proto.HandshakeMessage.encode(hello).finish())
  }

  /** Handles ClientFinish; returns the client's static key, its payload and the transport keys. */
  clientFinish(frame: Uint8Array): HandshakeResult {
    const finish = decodeHandshake(frame).clientFinish
    if (!finish?.static?.length || !finish.payload?.length) throw new ProtocolError('expected ClientFinish')
    const clientStatic = this.decryptAndHash(finish.static)
    if (clientStatic.length !== 32) throw new ProtocolError('bad client static key')
    this.mixKey(Curve.sharedKey(this.ephemeral.private, clientStatic))
    const payloadBytes = this.decryptAndHash(finish.payload)
    let payload: ProtoTypes.ClientPayload
    try {
      payload = proto.ClientPayload.decode(payloadBytes)
    } catch {
      throw new ProtocolError('undecodable ClientPayload')
    }
    const [c2s, s2c] = this.split(Buffer.alloc(0))
    return { clientStatic, payload, transport: new Transport(c2s, s2c) }
  }

  private mixHash(data: Uint8Array) {
    this.hash = sha256(Buffer.concat([this.hash, data]))
  }

  private split(ikm: Buffer): [Buffer, Buffer] {
    const out = Buffer.from(hkdfSync('sha256', ikm, this.salt, Buffer.alloc(0), 64))
    return [out.subarray(0, 32), out.subarray(32)]
  }

  private mixKey(ikm: Buffer) {
    ;[this.salt, this.key] = this.split(ikm)
    this.counter = 0
  }

  private encryptAndHash(plaintext: Uint8Array): Buffer {
    const ct = aesEncryptGCM(plaintext, this.key, iv(this.counter++), this.hash)
    this.mixHash(ct)
    return ct
  }

  private decryptAndHash(ciphertext: Uint8Array): Buffer {
    let pt: Buffer
    try {
      pt = aesDecryptGCM(ciphertext, this.key, iv(this.counter++), this.hash)
    } catch {
      throw new ProtocolError('handshake message failed authentication')
    }
    this.mixHash(ciphertext)
    return pt
  }
}

function decodeHandshake(frame: Uint8Array): ProtoTypes.HandshakeMessage {
  try {
    return proto.HandshakeMessage.decode(frame)
  } catch {
    throw new ProtocolError('undecodable handshake message')
  }
}
