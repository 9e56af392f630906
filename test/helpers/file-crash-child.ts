/**
 * Child process of the file driver's batch-atomicity crash test: writes big batches until it
 * is SIGKILLed. argv: <root folder> <next generation per session>. Generation g writes creds {"g":g} and KEYS keys of two
 * types holding g, deletes the marker key of g-1 and sets the one of g, in each of two
 * sessions (`default`, the root, and `other`, a sub-folder). Prints `ack <session> <g>` once a
 * batch is acknowledged.
 */
import { pathToFileURL } from 'node:url'
import { createFileDriver } from '../../src/drivers/file.js'

export const KEYS = 60
export const SESSIONS = ['default', 'other']

export function batchFor(g: number) {
  const text = (v: unknown) => Buffer.from(JSON.stringify(v))
  const set: Array<[string, string, Uint8Array]> = []
  for (let i = 0; i < KEYS; i++) set.push([i % 2 ? 'session' : 'pre-key', String(i), text({ g, i, pad: 'x'.repeat(200 + (i % 7) * 300) })])
  set.push(['sender-key', `120363000000000001@g.us::${g}::0`, text({ g })])
  return { creds: text({ g }), set, del: g > 0 ? ([['sender-key', `120363000000000001@g.us::${g - 1}::0`]] as Array<[string, string]>) : [] }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const path = process.argv[2]
  if (path === undefined) throw new Error('usage: file-crash-child <root folder> <next generations>')
  const driver = await createFileDriver({ path })
  // argv[3]: the next generation of each session, comma-separated in SESSIONS order.
  const next = (process.argv[3] ?? '').split(',').map(Number)
  process.stdout.write('ready\n')
  for (;;) {
    for (const [i, s] of SESSIONS.entries()) {
      const g = next[i] || 0
      await driver.write(s, batchFor(g))
      process.stdout.write(`ack ${s} ${g}\n`)
      next[i] = g + 1
    }
  }
}
