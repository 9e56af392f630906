import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parentPort } from 'node:worker_threads'
import { statChangedSince } from './file-changes.js'
import type { PageReply, PageRequest } from './file-read-ahead.js'

/** Whether the whole bytes of a file, as UTF-8 text, pass JSON.parse (codec/values.ts checkBody's test). */
function parsesAsJson(bytes: Buffer): boolean {
  try {
    JSON.parse(bytes.toString('utf8'))
    return true
  } catch {
    return false
  }
}

/**
 * The bytes of every file of a page in one fresh buffer, each file's length (-1: gone), and
 * (when asked) whether each parses as JSON: the consumer then skips its own parse; a file that
 * does not parse is parsed again there, which throws the error it always threw.
 */
function readPage(dir: string, names: readonly string[], parseJson: boolean): { buffer: ArrayBuffer; lengths: number[]; json: boolean[] } {
  const values: Array<Buffer | undefined> = []
  const json: boolean[] = []
  for (const name of names) {
    try {
      const value = readFileSync(join(dir, name))
      values.push(value)
      json.push(parseJson && parsesAsJson(value))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      values.push(undefined) // gone since the listing, as the listing thread's own read would find
      json.push(false)
    }
  }
  const bytes = Buffer.concat(values.filter((v): v is Buffer => v !== undefined))
  // A fresh ArrayBuffer of exactly the page (concat of small buffers may use the shared pool).
  const buffer = (
    bytes.buffer.byteLength === bytes.byteLength ? bytes.buffer : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)
  ) as ArrayBuffer
  return { buffer, lengths: values.map(v => (v === undefined ? -1 : v.byteLength)), json }
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
 * never waits on open/read/close or stat (nor, when asked, on parsing each file). Reads only,
 * as the listing it serves.
 */
parentPort!.on('message', (request: PageRequest) => {
  let reply: PageReply
  try {
    if (request.since === undefined) {
      reply = readPage(request.dir, request.names, !!request.parseJson)
    } else reply = { buffer: changedPage(request.dir, request.names, request.since), lengths: [], json: [] }
    parentPort!.postMessage(reply, [reply.buffer as ArrayBuffer])
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    reply = { error: { message: e.message, code: e.code, errno: e.errno, syscall: e.syscall, path: e.path } }
    parentPort!.postMessage(reply)
  }
})
