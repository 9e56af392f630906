import type { LeaseEvent, LeaseExtras } from './lease-events.js'

/**
 * Lease events over Redis pub/sub: the release script PUBLISHes `r:<session>` on the store's
 * channel (`{prefix}:lease-events`) in the same atomic step, and `announce` publishes
 * `n:<note>`. One subscriber connection per store instance (a duplicate of the client, made on
 * the first `watch`); ioredis re-subscribes by itself after a reconnect.
 */

/** What this needs of an ioredis client: a duplicate for subscribing. */
export interface RedisSubscriberSource {
  duplicate?(override?: Record<string, unknown>): RedisSubscriberLike
}

export interface RedisSubscriberLike {
  on(event: 'messageBuffer', listener: (channel: Buffer, message: Buffer) => void): unknown
  on(event: 'error', listener: (err: Error) => void): unknown
  subscribe(channel: string): Promise<unknown>
  disconnect(): void
}

export const leaseChannel = (prefix: string): string => `${prefix}:lease-events`

export function parseLeaseEvent(message: string): LeaseEvent | undefined {
  if (message.startsWith('r:')) return { released: message.slice(2) }
  if (message.startsWith('n:')) return { note: message.slice(2) }
  return undefined
}

export function redisLeaseEvents(options: {
  source: RedisSubscriberSource | undefined
  channel: string
  publish(channel: string, message: string): Promise<unknown>
}): LeaseExtras & { close(): void } {
  const listeners = new Set<(event: LeaseEvent) => void>()
  let subscriber: RedisSubscriberLike | undefined
  let closed = false
  const start = () => {
    if (subscriber || closed || !options.source?.duplicate) return
    // Connects now and queues SUBSCRIBE until it is connected (the store's own client fails fast instead).
    const sub = options.source.duplicate({
      lazyConnect: false,
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      autoResubscribe: true,
      connectionName: 'baileys-vault-lease-events'
    })
    subscriber = sub
    sub.on('error', () => undefined) // reconnects by itself; the standby's poll covers the gap
    sub.on('messageBuffer', (_channel, message) => {
      const event = parseLeaseEvent(message.toString('utf8'))
      if (event) for (const listener of listeners) listener(event)
    })
    sub.subscribe(options.channel).catch(() => undefined)
  }
  return {
    watch: options.source?.duplicate
      ? listener => {
          listeners.add(listener)
          start()
          return () => listeners.delete(listener)
        }
      : undefined,
    announce: async note => {
      await options.publish(options.channel, `n:${note}`)
    },
    close() {
      closed = true
      subscriber?.disconnect()
      subscriber = undefined
    }
  }
}
