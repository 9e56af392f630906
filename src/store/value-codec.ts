import { decodeCreds, decodeValue, encodeValue } from '../codec/values.js'

/**
 * What the store layer uses to turn Baileys values into stored bytes and back. The plain
 * codec is the default; encryption at rest wraps it (same interface), so nothing above
 * the store knows whether values are sealed.
 */
export interface ValueCodec {
  encode(value: unknown, session: string, type?: string, id?: string): Uint8Array
  decode(bytes: Uint8Array, session: string, type?: string, id?: string): any
  decodeCreds(bytes: Uint8Array, session: string): any
}

export function plainCodec(bare: boolean): ValueCodec {
  return {
    encode: value => encodeValue(value, bare),
    decode: decodeValue,
    decodeCreds
  }
}
