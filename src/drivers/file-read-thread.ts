import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parentPort } from 'node:worker_threads'
import { statChangedSince } from './file-changes.js'
import type { PageReply, PageRequest } from './file-read-ahead.js'

/** The bytes of every file of a page in one fresh buffer, and each file's length (-1: gone). */
function readPage(dir: string, names: readonly string[]): { buffer: ArrayBuffer; lengths: number[] } {
  const values: Array<Buffer | undefined> = []
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
  const buffer = (
    bytes.buffer.byteLength === bytes.byteLength ? bytes.buffer : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)
  ) as ArrayBuffer
  return { buffer, lengths: values.map(v => (v === undefined ? -1 : v.byteLength)) }
}

/** Per file of a page: changed since `since` (file-changes.ts) 1, unchanged 0, gone 2. */
function changedPage(dir: string, names: readonly string[], since: number): ArrayBuffer {
  const flags = new Uint8Array(names.length)
  names.forEach((name, i) => {
    const changed = statChangedSince(join(dir, name), since)
    flags[i] = changed === undefined ? 2 : changed ? 1 : 0
  })
  return flags.buffer
}

/**
 * The worker thread of file-read-ahead.ts: reads (or stats) the files of one page of a folder
 * listing and hands the result back in one transferred buffer (no copy), so the listing thread
 * never waits on open/read/close or stat. Reads only, as the listing it serves.
 */
parentPort!.on('message', (request: PageRequest) => {
  let reply: PageReply
  try {
    if (request.since === undefined) {
      const { buffer, lengths } = readPage(request.dir, request.names)
      reply = { buffer, lengths }
    } else reply = { buffer: changedPage(request.dir, request.names, request.since), lengths: [] }
    parentPort!.postMessage(reply, [reply.buffer as ArrayBuffer])
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    reply = { error: { message: e.message, code: e.code, errno: e.errno, syscall: e.syscall, path: e.path } }
    parentPort!.postMessage(reply)
  }
})
