import { randomBytes } from 'node:crypto'
import type { EncryptionOptions } from '../../src/codec/seal.js'

/** A fresh key set for a test run: one current key and one old key. */
export function testEncryption(current = 'k2024'): EncryptionOptions {
  return { keys: { [current]: randomBytes(32), kold: randomBytes(32) }, current }
}
