/**
 * The secrets scan's two halves, shared by the secrets tests: the key material of an account
 * (creds private keys, pre-key private keys, app-state keys) as the strings a leak would show
 * (base64 and hex), and a search for any run of them in collected output.
 */
import assert from 'node:assert/strict'

type Bytes = Uint8Array | { data?: unknown } | string

const bytesOf = (b: Bytes): Buffer => (typeof b === 'string' ? Buffer.from(b, 'base64') : Buffer.from(b as Uint8Array))

/** The private material of creds and of `keys` entries ([type, id, value]), each as raw bytes. */
export function privateMaterial(creds: any, keys: Iterable<[string, string, any]> = []): Buffer[] {
  const raw: Buffer[] = [
    creds.noiseKey.private,
    creds.signedIdentityKey.private,
    creds.signedPreKey.keyPair.private,
    creds.pairingEphemeralKeyPair.private,
    creds.advSecretKey
  ].map(bytesOf)
  for (const [type, , value] of keys) {
    if (type === 'pre-key' && value?.private) raw.push(bytesOf(value.private))
    if (type === 'app-state-sync-key' && value?.keyData) raw.push(bytesOf(value.keyData))
  }
  return raw
}

/** Each key as base64 and hex: what JSON (BufferJSON), a log line or an error excerpt would carry. */
export const secretStrings = (material: Buffer[]): string[] => material.flatMap(b => [b.toString('base64'), b.toString('hex')])

/**
 * Fails if `haystack` holds any whole secret or any run of a secret's characters long enough not
 * to occur by chance (8 of base64, 16 of hex): a JSON parse error quotes about ten characters
 * around the bad one (the issue saw 9 of a key), so whole-key matching alone would miss an
 * excerpt. One pass over the haystack.
 */
export function assertNoKeyMaterial(haystack: string, material: Buffer[], what: string): void {
  for (const [encoding, run] of [
    ['base64', 8],
    ['hex', 16]
  ] as const) {
    const fragments = new Set<string>()
    for (const b of material) {
      const text = b.toString(encoding).replace(/=+$/, '')
      for (let i = 0; i + run <= text.length; i++) fragments.add(text.slice(i, i + run))
    }
    for (let i = 0; i + run <= haystack.length; i++) {
      const window = haystack.slice(i, i + run)
      if (fragments.has(window)) assert.fail(`${what}: ${run} characters of a private key (${encoding}) appeared at offset ${i}`)
    }
  }
}
