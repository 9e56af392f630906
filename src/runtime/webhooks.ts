/**
 * Webhooks: every event of the runtime's feed POSTed as JSON to each URL, signed with
 * `X-Baileys-Vault-Signature: sha256=<hex HMAC-SHA256 of the body>` under the shared secret.
 * Each URL has its own bounded queue, delivered in order, one request at a time; a failed
 * delivery (network error, timeout, non-2xx) is retried with doubling backoff until it lands.
 * Publishing only appends to the queues, so a slow or dead receiver never slows a session; when
 * a queue is full its oldest waiting event is dropped (and counted).
 */
import { createHmac, randomUUID } from 'node:crypto'
import { invalidArgument } from '../core/errors.js'
import type { VaultEvent } from './event-json.js'
import type { EventFeed } from './event-feed.js'

export type DeliveryResult = 'delivered' | 'failed' | 'dropped'

export interface WebhookOptions {
  feed: EventFeed
  urls: readonly string[]
  /** The HMAC key receivers verify the signature with. */
  secret: string
  /** Events kept per URL while it is unreachable. Default 1000. */
  queueSize?: number
  /** First retry delay, doubled per failure up to `retryMaxMs`. Defaults 1 s and 60 s. */
  retryFirstMs?: number
  retryMaxMs?: number
  /** One delivery gives up after this long (then it is retried). Default 10 s. */
  timeoutMs?: number
  /** Told about every attempt's outcome (the CLI counts them in /metrics). */
  onResult?: (result: DeliveryResult, url: string) => void
}

export interface Webhooks {
  /** Events waiting per URL (the one in flight included). */
  pending(): number
  /** Stops listening; waits up to `graceMs` for the queues to empty, then abandons the rest. */
  stop(graceMs?: number): Promise<void>
}

export const SIGNATURE_HEADER = 'x-baileys-vault-signature'

/** The header value for `body` under `secret`: what a receiver recomputes and compares. */
export const signBody = (secret: string, body: string): string => `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`

export function checkWebhookUrl(url: string): void {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw invalidArgument(`A webhook must be an http:// or https:// URL; got ${JSON.stringify(url)}.`)
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw invalidArgument(`A webhook must be an http:// or https:// URL; got ${parsed.protocol}.`)
}

export function startWebhooks(options: WebhookOptions): Webhooks {
  if (!options.secret) throw invalidArgument('Webhooks need a secret to sign their bodies with (--webhook-secret).')
  options.urls.forEach(checkWebhookUrl)
  const targets = options.urls.map(url => new Target(url, options))
  const unsubscribe = options.feed.subscribe(event => {
    for (const target of targets) target.push(event)
  })
  return {
    pending: () => targets.reduce((n, t) => n + t.queue.length, 0),
    async stop(graceMs = 5_000) {
      unsubscribe()
      await Promise.race([Promise.all(targets.map(t => t.drained())), new Promise(r => setTimeout(r, graceMs).unref())])
      for (const t of targets) t.close()
    }
  }
}

class Target {
  readonly queue: Array<{ body: string; event: string; id: string }> = []
  private sending = false
  private closed = false
  private failures = 0
  private retryTimer?: NodeJS.Timeout
  private readonly abort = new AbortController()
  private readonly idle = new Set<() => void>()

  constructor(
    readonly url: string,
    private readonly options: WebhookOptions
  ) {}

  push(event: VaultEvent): void {
    if (this.closed) return
    if (this.queue.length >= (this.options.queueSize ?? 1000)) {
      // The head may be in flight: drop the oldest event that is only waiting.
      this.queue.splice(this.sending ? 1 : 0, 1)
      this.options.onResult?.('dropped', this.url)
    }
    this.queue.push({ body: JSON.stringify(event), event: event.event, id: randomUUID() })
    if (!this.sending && !this.retryTimer) void this.send()
  }

  drained(): Promise<void> {
    return this.queue.length === 0 ? Promise.resolve() : new Promise(resolve => this.idle.add(resolve))
  }

  close(): void {
    this.closed = true
    clearTimeout(this.retryTimer)
    this.abort.abort()
    for (const resolve of this.idle) resolve()
  }

  private async send(): Promise<void> {
    this.retryTimer = undefined
    const next = this.queue[0]
    if (!next || this.closed) return
    this.sending = true
    let ok = false
    try {
      const res = await fetch(this.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'baileys-vault',
          [SIGNATURE_HEADER]: signBody(this.options.secret, next.body),
          'x-baileys-vault-event': next.event,
          'x-baileys-vault-delivery': next.id
        },
        body: next.body,
        signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.options.timeoutMs ?? 10_000)])
      })
      await res.body?.cancel()
      ok = res.ok
    } catch {
      ok = false // unreachable, refused, timed out: retried below
    }
    this.sending = false
    if (this.closed) return
    this.options.onResult?.(ok ? 'delivered' : 'failed', this.url)
    if (ok) {
      if (this.queue[0] === next) this.queue.shift()
      this.failures = 0
    } else this.failures++
    if (this.queue.length === 0) {
      for (const resolve of this.idle) resolve()
      this.idle.clear()
      return
    }
    if (ok) return void this.send()
    const first = this.options.retryFirstMs ?? 1_000
    const delay = Math.min(this.options.retryMaxMs ?? 60_000, first * 2 ** Math.min(this.failures - 1, 20))
    this.retryTimer = setTimeout(() => void this.send(), delay)
  }
}
