/**
 * Small helpers every layer needs for the bytes the driver contract speaks in.
 */

/** A Buffer over the same memory as `bytes` (no copy): drivers and codecs take Uint8Array, their clients want Buffer. */
export const bufferView = (bytes: Uint8Array): Buffer => (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))

/**
 * One string for a (type, id) pair, for maps and hash fields: NUL cannot occur in a type
 * (lowercase letters, digits, '-') nor in an id (refused by validation), so the pair reads back whole.
 */
export const typeIdKey = (type: string, id: string): string => `${type}\u0000${id}`

/** The buffers as one, without a copy when there is only one. */
export function joinBuffers(buffers: readonly Buffer[]): Buffer {
  const [first, second] = buffers
  return first !== undefined && second === undefined ? first : Buffer.concat(buffers)
}
