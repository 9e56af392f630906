/**
 * Other projects' auth-state layouts, written from a Baileys folder exactly as those projects
 * write them (same tables, key names, field names and encodings; read from their sources, see
 * src/drivers/import/evolution.ts and baileys-api.ts), with plain SQL (pg) and ioredis: their own
 * code needs Prisma engines or Bun, which this machine cannot fetch. A Baileys folder's files hold
 * `JSON.stringify(value, BufferJSON.replacer)`, the text every one of these layouts starts from.
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { openStore } from '../../src/open-store.js'
import { migrate } from '../../src/tools/migrate.js'
import { rawDriver } from './raw-driver.js'
import { redisClient } from './servers.js'

/** creds.json's text and each key's (type, id, text) of a Baileys folder, read by the file: store. */
export async function baileysFolderTexts(folder: string) {
  const store = await openStore(`file:${folder}`, { readOnly: true })
  try {
    const keys: Array<[type: string, id: string, text: string]> = []
    for await (const [type, id, value] of store.listRaw('default')) keys.push([type, id, Buffer.from(value!).toString('utf8')])
    return { creds: readFileSync(join(folder, 'creds.json'), 'utf8'), keys }
  } finally {
    await store.close()
  }
}

/** Evolution's tables as its first PostgreSQL migration creates them (prisma/postgresql-migrations/…_init), the two the auth state uses. */
export async function createEvolutionTables(pgUrl: string, schema = 'public'): Promise<void> {
  await withPg(pgUrl, async c => {
    await c.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`)
    await c.query(`SET search_path TO "${schema}"`)
    await c.query(`CREATE TYPE "InstanceConnectionStatus" AS ENUM ('open', 'close', 'connecting')`)
    await c.query(`CREATE TABLE "Instance" (
      "id" TEXT NOT NULL, "name" VARCHAR(255) NOT NULL,
      "connectionStatus" "InstanceConnectionStatus" NOT NULL DEFAULT 'open',
      "ownerJid" VARCHAR(100), "number" VARCHAR(100), "createdAt" TIMESTAMP DEFAULT CURRENT_TIMESTAMP, "updatedAt" TIMESTAMP,
      CONSTRAINT "Instance_pkey" PRIMARY KEY ("id"))`)
    await c.query(`CREATE UNIQUE INDEX "Instance_name_key" ON "Instance"("name")`)
    await c.query(`CREATE TABLE "Session" (
      "id" TEXT NOT NULL, "sessionId" TEXT NOT NULL, "creds" TEXT,
      "createdAt" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
      CONSTRAINT "Session_pkey" PRIMARY KEY ("id"))`)
    await c.query(`CREATE UNIQUE INDEX "Session_sessionId_key" ON "Session"("sessionId")`)
    await c.query(
      `ALTER TABLE "Session" ADD CONSTRAINT "Session_sessionId_fkey" FOREIGN KEY ("sessionId") REFERENCES "Instance"("id") ON DELETE CASCADE ON UPDATE CASCADE`
    )
  })
}

/** What Evolution's saveKey does: the creds text JSON-encoded once more, in "Session"."creds". */
export async function writeEvolutionCreds(options: { pgUrl: string; schema?: string; instanceId: string; name: string; credsText: string }): Promise<void> {
  await withPg(options.pgUrl, async c => {
    await c.query(`SET search_path TO "${options.schema ?? 'public'}"`)
    await c.query(`INSERT INTO "Instance" ("id", "name") VALUES ($1, $2)`, [options.instanceId, options.name])
    await c.query(`INSERT INTO "Session" ("id", "sessionId", "creds") VALUES ($1, $2, $3)`, [
      `s${options.instanceId}`,
      options.instanceId,
      JSON.stringify(options.credsText)
    ])
  })
}

/** Evolution's RedisCache.hSet via CacheService.hSet: `<prefix>:instance:<id>`, field `<type>-<id>`, the text JSON-encoded once more. */
export async function writeEvolutionRedisKeys(options: { prefix: string; instanceId: string; keys: Array<[string, string, string]>; credsText?: string }) {
  const fields: string[] = []
  for (const [type, id, text] of options.keys) fields.push(`${type}-${id}`, JSON.stringify(text))
  if (options.credsText !== undefined) fields.push('creds', JSON.stringify(options.credsText))
  await withRedis(c => c.hset(`${options.prefix}:instance:${options.instanceId}`, ...fields))
}

/** Evolution's Prisma layout without Redis: the key files of a Baileys folder in `instances/<id>/`, no creds.json. */
export function writeEvolutionInstanceFolder(options: { folder: string; instances: string; instanceId: string }): void {
  const dir = join(options.instances, options.instanceId)
  mkdirSync(dir, { recursive: true })
  for (const name of readdirSync(options.folder)) if (name !== 'creds.json' && name.endsWith('.json')) copyFileSync(join(options.folder, name), join(dir, name))
}

/** fazer-ai/baileys-api's useRedisAuthState: `@baileys-api:connections:<phone>:authState`, fields creds, `<type>-<id>`, metadata. */
export async function writeBaileysApiHash(options: { phone: string; keys: Array<[string, string, string]>; credsText: string }) {
  const fields: string[] = ['metadata', JSON.stringify({ webhookUrl: 'http://127.0.0.1:9/hook', clientName: 'test' }), 'creds', options.credsText]
  for (const [type, id, text] of options.keys) fields.push(`${type}-${id}`, text)
  await withRedis(c => c.hset(baileysApiKey(options.phone), ...fields))
}

export const baileysApiKey = (phone: string) => `@baileys-api:connections:${phone}:authState`

/** Every field of a hash, sorted: to show a source is unchanged. */
export async function hashSnapshot(key: string): Promise<string[]> {
  const all = await withRedis(c => c.hgetall(key))
  return Object.entries(all)
    .map(([f, v]) => `${f}=${v}`)
    .sort()
}

/** Every "Session" row: to show a source is unchanged. */
export async function sessionRows(pgUrl: string, schema = 'public'): Promise<string[]> {
  return withPg(pgUrl, async c => {
    const { rows } = await c.query(`SELECT "id", "sessionId", "creds" FROM "${schema}"."Session" ORDER BY "id"`)
    return rows.map((r: Record<string, string>) => JSON.stringify(r))
  })
}

export async function withPg<T>(url: string, fn: (client: any) => Promise<T>): Promise<T> {
  const { default: pg } = await import('pg')
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

export async function withRedis<T>(fn: (client: Awaited<ReturnType<typeof redisClient>>) => Promise<T>): Promise<T> {
  const client = await redisClient()
  try {
    return await fn(client)
  } finally {
    client.disconnect()
  }
}

/** migrate() between two URLs, both stores closed afterwards (an open Redis client keeps the test process alive). */
export async function migrateUrls(from: string, to: string, options: Parameters<typeof migrate>[2] = {}) {
  const source = await openStore(from)
  const target = await openStore(to)
  try {
    return await migrate(source, target, options)
  } finally {
    await source.close()
    await target.close()
  }
}

/** Every session on a store's driver, staging copies included. */
export async function allSessions(url: string): Promise<string[]> {
  const store = await openStore(url, { readOnly: true })
  try {
    const out: string[] = []
    for await (const s of rawDriver(store).sessions()) out.push(s)
    return out
  } finally {
    await store.close()
  }
}
