import { setTimeout as sleep } from 'node:timers/promises'

export const bytes = (text: string): Buffer => Buffer.from(text, 'utf8')
export const text = (value: Uint8Array | undefined): string | undefined => (value === undefined ? undefined : Buffer.from(value).toString())

/** Polls `fn` until it returns a value (not undefined); fails after `timeoutMs`. */
export async function until<T>(fn: () => Promise<T | undefined>, timeoutMs = 15_000, everyMs = 50): Promise<T> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const value = await fn()
    if (value !== undefined) return value
    if (performance.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await sleep(everyMs)
  }
}

export const collect = async <T>(it: AsyncIterable<T>): Promise<T[]> => {
  const out: T[] = []
  for await (const x of it) out.push(x)
  return out
}

/** Ids that break naive stores: path separators, traversal, JID punctuation, unicode, length. */
export const TRICKY_IDS = [
  '15550000001.0',
  '90000000000002_1.0',
  '120363000000000001@g.us::15550000002::0',
  '../../etc/passwd',
  'a/b\\c',
  'has space',
  'ünïcødé-✓',
  '__index',
  'CON',
  '.hidden',
  'x'.repeat(400)
]
