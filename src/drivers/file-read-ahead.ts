import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { markParsedJson } from '../codec/parsed-json.js'

/** One page of file names to read (or, with `since`, to stat: changed since then?), relative to `dir`. */
export interface PageRequest {
  dir: string
  names: readonly string[]
  since?: number
  /** Reading: also parse each file as JSON (PageReply's `json`). */
  parseJson?: boolean
}

/**
 * A page read: the bytes of every file in one buffer, `lengths[i]` -1 for a file gone, `json[i]`
 * whether the file parses as JSON; a page statted: one flag byte per file in `buffer` (0
 * unchanged, 1 changed, 2 gone); or the error.
 */
export type PageReply =
  | { buffer: ArrayBuffer | SharedArrayBuffer; lengths: number[]; json: boolean[]; error?: undefined }
  | { error: { message: string; code?: string; errno?: number; syscall?: string; path?: string } }

/** Whole-session listings this long read their files on a worker thread; a shorter one is not worth starting a thread. */
export const READ_AHEAD_MIN_FILES = 1000

/** Files per page, and pages read ahead of the consumer: memory stays bounded by PAGE_FILES x (AHEAD + 1) files. */
const PAGE_FILES = 256
const AHEAD = 4

/**
 * Threads a listing reads with, each taking every n-th page: reading a page (open/read/close of
 * 256 files, and their JSON check) costs more CPU than the consumer's inserts of it (bulk
 * migrate into SQLite: 3.6 s against 2.1 s for 100k keys), so two threads keep the consumer busy
 * on a machine with two cores or more.
 */
export const READ_THREADS = Math.min(2, availableParallelism())

/**
 * @internal Pages read (and statted) by worker threads in this process, and key listings a
 * verification took from the copy's listing (file.ts) instead of listing the folder again
 * (tests check that a bulk listing took these paths).
 */
export const readAheadStats = { pages: 0, statPages: 0, listingsReused: 0, parsedOnWorker: 0, threadsThatRead: 0 }

/**
 * The bytes of `names` in `dir`, in order (undefined: the file is gone), read by a worker
 * thread a few pages ahead of the consumer: a bulk listing (migrate, backup of a large folder)
 * spends its time on open/read/close, which this takes off the consumer's thread, and the
 * consumer's own work (a target's inserts) runs meanwhile. With `parseJson` the thread also
 * parses each file as JSON, and a value that parsed is marked so (codec/parsed-json.ts):
 * migrate's check of each value then costs the consumer nothing. A read error other than a
 * missing file is thrown as the same error (code, path) a read on this thread would throw.
 */
export async function* readAhead(read: { dir: string; names: readonly string[]; parseJson?: boolean }): AsyncGenerator<Array<Buffer | undefined>> {
  for await (const reply of onWorker(read)) {
    readAheadStats.pages++
    let offset = 0
    yield reply.lengths.map((length, i) => {
      if (length < 0) return undefined
      const value = Buffer.from(reply.buffer, offset, length)
      offset += length
      if (reply.json[i]) {
        markParsedJson(value)
        readAheadStats.parsedOnWorker++
      }
      return value
    })
  }
}

/**
 * Whether each of `names` in `dir` changed since `since` (file-changes.ts: statChangedSince;
 * undefined: gone), statted by a worker thread a few pages ahead of the consumer, as readAhead.
 */
export async function* changedAhead(dir: string, names: readonly string[], since: number): AsyncGenerator<Array<boolean | undefined>> {
  for await (const reply of onWorker({ dir, names, since })) {
    readAheadStats.statPages++
    yield Array.from(new Uint8Array(reply.buffer), flag => (flag === 2 ? undefined : flag === 1))
  }
}

/** The pages of `names` done by worker threads (read, or statted with `since`), in order: page k by thread k mod READ_THREADS. */
async function* onWorker({
  dir,
  names,
  since,
  parseJson
}: PageRequest): AsyncGenerator<{ buffer: ArrayBuffer | SharedArrayBuffer; lengths: number[]; json: boolean[] }> {
  const pages = Math.ceil(names.length / PAGE_FILES)
  const threads = Array.from({ length: Math.max(1, Math.min(READ_THREADS, pages)) }, () => ({
    worker: new Worker(new URL('./file-read-thread.js', import.meta.url)),
    /** Resolvers of the pages asked of this thread, in the order asked (a thread answers in order). */
    waiting: [] as Array<(reply: PageReply) => void>,
    answered: false
  }))
  const replies: Array<Promise<PageReply>> = []
  let failed: Error | undefined
  const fail = (err: Error) => {
    failed ??= err
    for (const thread of threads) for (const resolve of thread.waiting.splice(0)) resolve({ error: { message: failed.message } })
  }
  for (const thread of threads) {
    const { worker, waiting } = thread
    worker.unref() // a listing abandoned without return() never keeps the process alive
    worker.on('message', (reply: PageReply) => {
      thread.answered = true
      waiting.shift()!(reply)
    })
    worker.on('error', fail)
    // A thread that ends with pages still owed (killed, out of memory) fails the listing; it never hangs.
    worker.on('exit', code => fail(new Error(`The thread reading ${dir} stopped (exit code ${code}) before it read every file.`)))
  }
  let next = 0
  const request = () => {
    if (next >= names.length) return
    const thread = threads[(next / PAGE_FILES) % threads.length]!
    const page = names.slice(next, next + PAGE_FILES)
    next += page.length
    replies.push(new Promise(resolve => (failed ? resolve({ error: { message: failed.message } }) : thread.waiting.push(resolve))))
    thread.worker.postMessage({ dir, names: page, since, parseJson } satisfies PageRequest)
  }
  try {
    for (let i = 0; i <= AHEAD; i++) request()
    while (replies.length > 0) {
      const reply = await replies.shift()!
      if (reply.error) throw Object.assign(new Error(reply.error.message), reply.error)
      request()
      yield reply
    }
  } finally {
    readAheadStats.threadsThatRead += threads.filter(t => t.answered).length
    await Promise.all(threads.map(({ worker }) => worker.terminate()))
  }
}
