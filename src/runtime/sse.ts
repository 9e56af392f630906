/**
 * GET /api/events: the runtime's events as Server-Sent Events, one `data:` line of JSON each
 * (the objects of `run --json`), with a comment line as a heartbeat. A client that does not
 * read is cut off once its buffer passes 1 MiB: a slow reader never holds events in memory
 * without bound, and never slows a session (publishing only writes to the socket's buffer).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { EventFeed } from './event-feed.js'

const MAX_BUFFERED_BYTES = 1024 * 1024

export function serveEvents(feed: EventFeed, req: IncomingMessage, res: ServerResponse, options: { heartbeatMs?: number } = {}): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no'
  })
  res.write(': baileys-vault events\n\n')
  let seq = 0
  const unsubscribe = feed.subscribe(event => {
    if (res.writableLength > MAX_BUFFERED_BYTES) return void res.destroy()
    res.write(`id: ${++seq}\ndata: ${JSON.stringify(event)}\n\n`)
  })
  const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), options.heartbeatMs ?? 15_000)
  heartbeat.unref()
  const done = () => {
    clearInterval(heartbeat)
    unsubscribe()
  }
  req.on('close', done)
  res.on('close', done)
}
