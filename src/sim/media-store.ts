/**
 * The simulator's media server, on its own port too: what Baileys uploads (already encrypted by the
 * client: the server never sees plaintext) is written to a temporary file and served back at
 * the direct path the upload answered, so image, video, audio, document and sticker messages
 * round-trip between clients. Bounded: a size limit per file and in total (the oldest files go
 * first); nothing is held in memory beyond a stream's buffers. Baileys uploads and downloads over
 * https only, so media needs the simulator's TLS mode.
 */
import { randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync, unlinkSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'

/** Largest single upload (WhatsApp's own documents limit is 2 GB; tests need far less). */
export const MAX_MEDIA_FILE_BYTES = 64 * 1024 * 1024
/** Total bytes kept; beyond this the oldest uploads are deleted. */
export const MAX_MEDIA_TOTAL_BYTES = 512 * 1024 * 1024

const UPLOAD_PATH = /^\/(mms|product|pps)\/[\w-]+\/[\w%=-]+$/
const DOWNLOAD_PATH = /^\/v\/sim\/([0-9a-f]{32})\.enc$/

interface StoredMedia {
  path: string
  bytes: number
}

export class MediaStore {
  private dir?: string
  /** Uploads in arrival order (a Map keeps it), for the oldest-first eviction. */
  private readonly files = new Map<string, StoredMedia>()
  private totalBytes = 0

  constructor(private readonly limits: { fileBytes: number; totalBytes: number } = { fileBytes: MAX_MEDIA_FILE_BYTES, totalBytes: MAX_MEDIA_TOTAL_BYTES }) {}

  /** Serves an upload (POST) or a download (GET) of media; false when the request is for something else. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const origin = `https://${req.headers.host ?? 'localhost'}`
    const url = new URL(req.url ?? '/', 'https://sim')
    if (req.method === 'POST' && UPLOAD_PATH.test(url.pathname)) {
      this.upload(req, origin).then(
        body => reply(res, 200, body),
        err =>
          reply(res, err instanceof TooLarge ? 413 : 500, { error: { code: err instanceof TooLarge ? 'TOO_LARGE' : 'UPLOAD_FAILED', message: err.message } })
      )
      return true
    }
    const [, blobId] = (req.method === 'GET' ? DOWNLOAD_PATH.exec(url.pathname) : null) ?? []
    if (blobId !== undefined) {
      this.download(blobId, res)
      return true
    }
    return false
  }

  private async upload(req: IncomingMessage, origin: string): Promise<Record<string, string>> {
    const declared = Number(req.headers['content-length'] ?? 0)
    if (declared > this.limits.fileBytes) throw new TooLarge(`Media larger than ${this.limits.fileBytes} bytes is refused.`)
    this.dir ??= mkdtempSync(join(tmpdir(), 'baileys-vault-sim-media-'))
    const id = randomBytes(16).toString('hex')
    const path = join(this.dir, `${id}.enc`)
    let bytes = 0
    const limit = this.limits.fileBytes
    try {
      await pipeline(
        req,
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            bytes += chunk.length
            if (bytes > limit) throw new TooLarge(`Media larger than ${limit} bytes is refused.`)
            yield chunk
          }
        },
        createWriteStream(path)
      )
    } catch (err) {
      rmSync(path, { force: true })
      throw err
    }
    this.files.set(id, { path, bytes: statSync(path).size })
    this.totalBytes += bytes
    this.evict()
    const directPath = `/v/sim/${id}.enc`
    return { url: `${origin}${directPath}`, direct_path: directPath }
  }

  private download(id: string, res: ServerResponse): void {
    const file = this.files.get(id)
    if (!file) return reply(res, 404, { error: { code: 'NOT_FOUND', message: 'No such media (it was never uploaded, or the store evicted it).' } })
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': file.bytes })
    createReadStream(file.path)
      .on('error', () => res.destroy())
      .pipe(res)
  }

  /** Deletes the oldest uploads until the total fits. */
  private evict(): void {
    for (const [id, file] of this.files) {
      if (this.totalBytes <= this.limits.totalBytes) break
      this.files.delete(id)
      this.totalBytes -= file.bytes
      try {
        unlinkSync(file.path)
      } catch {
        // already gone with the temp dir: nothing else to free
      }
    }
  }

  /** Deletes every stored file and the temporary directory (the simulator's own). */
  close(): void {
    if (this.dir) rmSync(this.dir, { recursive: true, force: true })
    this.dir = undefined
    this.files.clear()
    this.totalBytes = 0
  }

  get stats(): { files: number; bytes: number } {
    return { files: this.files.size, bytes: this.totalBytes }
  }
}

class TooLarge extends Error {}

function reply(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}
