/** The batch and the read-back the server drivers' round-trip tests count (one statement or command each). */
import type { WriteBatch } from '../../src/core/driver.js'

const bytes = (text: string) => Buffer.from(text, 'utf8')

/** Creds, pre-keys 0..count-1 (values `v<i>`), and deletes of pre-key 5 and of a key never set. */
export function roundTripBatch(count: number): WriteBatch {
  return {
    creds: bytes('c'),
    set: Array.from({ length: count }, (_, i) => ['pre-key', String(i), bytes(`v${i}`)]),
    del: [
      ['pre-key', '5'],
      ['session', 'none']
    ]
  }
}

/** Pre-keys 0..99 read back at once: 99 come back, pre-key 5 having been deleted in the same batch. */
export const READ_BACK_IDS: readonly string[] = Array.from({ length: 100 }, (_, i) => String(i))
