import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parentPort } from 'node:worker_threads'
import type { PageReply, PageRequest } from './file-read-ahead.js'

/**
 * The worker thread of file-read-ahead.ts: reads the files of one page of a folder listing and
 * hands their bytes back in one transferred buffer (no copy), so the listing thread never waits
 * on open/read/close. Reads only, as the listing it serves.
 */
parentPort!.on('message', ({ dir, names }: PageRequest) => {
  const values: Array<Buffer | undefined> = []
  let reply: PageReply
  try {
    for (const name of names) {
      try {
        values.push(readFileSync(join(dir, name)))
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
        values.push(undefined) // gone since the listing, as the listing thread's own read would find
      }
    }
    const bytes = Buffer.concat(values.filter((v): v is Buffer => v !== undefined))
    // A fresh ArrayBuffer of exactly the page (concat of small buffers may use the shared pool).
    const buffer = bytes.buffer.byteLength === bytes.byteLength ? bytes.buffer : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)
    reply = { buffer, lengths: values.map(v => (v === undefined ? -1 : v.byteLength)) }
    parentPort!.postMessage(reply, [buffer as ArrayBuffer])
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    reply = { error: { message: e.message, code: e.code, errno: e.errno, syscall: e.syscall, path: e.path } }
    parentPort!.postMessage(reply)
  }
})
