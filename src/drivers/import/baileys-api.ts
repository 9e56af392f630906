import type { Driver } from '../../core/driver.js'
import { invalidArgument } from '../../core/errors.js'
import { parseRedisUrl } from '../../core/server-url.js'
import { redactUrl } from '../../core/url.js'
import { importDriver } from './import-driver.js'
import { connectImportRedis, globLiteral, redisHashReader, redisWhere } from './redis-hash.js'

/**
 * fazer-ai/baileys-api (src/baileys/redisAuthState.ts): one Redis hash per connection,
 * `@baileys-api:connections:<phone>:authState`, with the field `creds`, a field `<type>-<id>` per
 * key (the id as Baileys gives it), both `JSON.stringify(value, BufferJSON.replacer)`, and the
 * fields `metadata` (webhook settings) and `import-candidates` that are not auth state and are
 * not copied. The session id is the connection's phone number as baileys-api names it.
 *
 *   baileys-api+redis://[:password@]host[:port][/db]   (baileys-api+rediss:// for TLS)
 */
export const BAILEYS_API_SCHEMES = ['baileys-api+redis', 'baileys-api+rediss']

const PREFIX = '@baileys-api:connections:'
const SUFFIX = ':authState'

export async function createBaileysApiDriver(url: string): Promise<Driver> {
  const redisUrl = url.slice('baileys-api+'.length)
  const parts = parseRedisUrl(redisUrl)
  if (parts.prefix !== undefined)
    throw invalidArgument(
      `Store URL "${redactUrl(url)}" has ?prefix=; baileys-api's key names are fixed (${PREFIX}<phone>${SUFFIX}), so write it without one: baileys-api+redis://host:6379/0.`
    )
  const client = await connectImportRedis(redisUrl, 'baileys-api')
  const reader = redisHashReader(client, {
    project: 'baileys-api',
    keyOf: session => `${PREFIX}${session}${SUFFIX}`,
    pattern: `${globLiteral(PREFIX)}*${globLiteral(SUFFIX)}`,
    sessionOf: key =>
      key.startsWith(PREFIX) && key.endsWith(SUFFIX) && key.length > PREFIX.length + SUFFIX.length ? key.slice(PREFIX.length, -SUFFIX.length) : undefined,
    text: stored => stored,
    credsField: 'creds',
    otherFields: ['metadata', 'import-candidates']
  })
  return importDriver({ kind: 'baileys-api', label: `baileys-api+redis://${redisWhere(redisUrl)}`, ...reader })
}
