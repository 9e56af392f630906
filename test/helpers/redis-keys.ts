/** A plain ioredis client on a Redis URL and the deletion of a key prefix: cleanup for tests and benches. */

/** A connected ioredis client (raw reads, cleanup); connection errors surface on its calls, not as events. */
export async function connectRedis(url: string) {
  const { Redis } = await import('ioredis')
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  client.on('error', () => undefined)
  await client.connect()
  return client
}

/** Deletes every key under `prefix:` on the Redis at `url` (SCAN + UNLINK, bounded batches). */
export async function deleteRedisPrefix(options: { url: string; prefix: string }): Promise<void> {
  const client = await connectRedis(options.url)
  try {
    let cursor = '0'
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${options.prefix}:*`, 'COUNT', 1000)
      if (keys.length > 0) await client.unlink(...keys)
      cursor = next
    } while (cursor !== '0')
  } finally {
    client.disconnect()
  }
}
