import { closeSync, openSync, readSync } from 'node:fs'
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

/** A thread's first read buffer, and the room it keeps free before each read (it grows by doubling, at least by the first size). */
const FIRST_BUFFER_BYTES = 1 << 20
const MIN_ROOM_BYTES = 64 * 1024

/** Where this thread reads each page's files; it grows to the largest page and is reused. */
let scratch = Buffer.allocUnsafe(FIRST_BUFFER_BYTES)

/**
 * Appends the whole file at `path` to `scratch` from `offset`; returns its length, or -1 when
 * it is gone. open/read/close only: a read that leaves room in the buffer reached the end of
 * the file (regular files), so neither an fstat nor a last empty read is needed.
 */
function readInto(path: string, offset: number): number {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return -1 // gone since the listing, as a read on the listing thread would find
    throw err
  }
  try {
    let end = offset
    for (;;) {
      if (scratch.length - end < MIN_ROOM_BYTES) scratch = Buffer.concat([scratch.subarray(0, end)], Math.max(scratch.length * 2, end + FIRST_BUFFER_BYTES))
      const room = scratch.length - end
      const read = readSync(fd, scratch, end, room, null)
      end += read
      if (read === 0 || read < room) return end - offset
    }
  } finally {
    closeSync(fd)
  }
}

/**
 * The bytes of every file of a page in one fresh buffer, each file's length (-1: gone), and
 * (when asked) whether each parses as JSON: the consumer then skips its own parse; a file that
 * does not parse is parsed again there, which throws the error it always threw.
 */
function readPage(dir: string, names: readonly string[], parseJson: boolean): { buffer: ArrayBuffer; lengths: number[]; json: boolean[] } {
  const lengths: number[] = []
  const json: boolean[] = []
  let size = 0
  for (const name of names) {
    const length = readInto(join(dir, name), size)
    lengths.push(length)
    json.push(length >= 0 && parseJson && parsesAsJson(scratch.subarray(size, size + length)))
    if (length > 0) size += length
  }
  // A fresh ArrayBuffer of exactly the page, transferred to the listing thread.
  const buffer = new ArrayBuffer(size)
  scratch.copy(new Uint8Array(buffer), 0, 0, size)
  return { buffer, lengths, json }
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
