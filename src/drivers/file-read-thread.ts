import { closeSync, openSync, readSync } from 'node:fs'
import { join } from 'node:path'
import { parentPort } from 'node:worker_threads'
import { statChangedSince } from './file-changes.js'
import type { PageReply, PageRequest } from './file-read-ahead.js'

/** Bytes a page buffer starts with; it doubles while a page needs more (a page is 256 files). */
const PAGE_START_BYTES = 1 << 20

/**
 * The bytes of every file of a page, one after another in one fresh buffer, and each file's
 * length (-1: gone).
 * Each file is read straight into the page buffer (open, read until end of file, close): no
 * stat for its size and no per-file buffer copied into the page afterwards.
 */
function readPage(dir: string, names: readonly string[]): { buffer: ArrayBuffer; lengths: number[] } {
  let page: Buffer = Buffer.allocUnsafeSlow(PAGE_START_BYTES)
  let used = 0
  const lengths: number[] = []
  for (const name of names) {
    let fd: number
    try {
      fd = openSync(join(dir, name), 'r')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      lengths.push(-1) // gone since the listing, as the listing thread's own read would find
      continue
    }
    const start = used
    try {
      for (;;) {
        if (used === page.byteLength) page = grown(page, used)
        const n = readSync(fd, page, used, page.byteLength - used, null)
        if (n === 0) break
        used += n
      }
    } finally {
      closeSync(fd)
    }
    lengths.push(used - start)
  }
  // The page's own ArrayBuffer (allocUnsafeSlow: not the shared pool), transferred as it is: its
  // unused tail is never touched, so it costs address space, not memory, and no copy is made.
  return { buffer: page.buffer as ArrayBuffer, lengths }
}

/** `page` with twice the room, its first `used` bytes kept. */
function grown(page: Buffer, used: number): Buffer {
  const bigger = Buffer.allocUnsafeSlow(page.byteLength * 2)
  page.copy(bigger, 0, 0, used)
  return bigger
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
