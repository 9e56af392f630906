import { createHash } from 'node:crypto'
import type { LeaseCapability } from '../core/driver.js'
import { leaseCapability, type LeaseExtras } from './shared-lease.js'

/**
 * Leases in Redis: one hash per session, `{prefix}:s:{session}:lease` = owner, epoch, expires
 * (ms on the server's clock). Every step is one Lua script reading the server's `TIME`, so no
 * two hosts' clocks are compared. The hash never expires (no key TTL): it keeps the epoch
 * counter after release, expiry and drop, so an epoch is never handed out twice. Expiry is
 * only a comparison inside acquire. The write's fence is in redis-write.ts (checked inside the write script).
 */

/** Scripts call TIME before writing: replicate their effects, not the script (Redis < 5 only). */
const NOW = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local l = redis.call('HMGET', KEYS[1], 'owner', 'epoch', 'expires')
local owner, epoch, expires = l[1] or '', tonumber(l[2] or '0'), tonumber(l[3] or '0')`

const ACQUIRE = `${NOW}
if owner ~= '' and owner ~= ARGV[1] and owner ~= ARGV[3] and expires > now then return {0, owner, expires - now} end
epoch = epoch + 1
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'epoch', string.format('%d', epoch), 'expires', string.format('%d', now + tonumber(ARGV[2])))
return {1, string.format('%d', epoch), 0}`

const RENEW = `${NOW}
if owner == '' or owner ~= ARGV[1] or l[2] ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'expires', string.format('%d', now + tonumber(ARGV[3])))
return 1`

const RELEASE = `${NOW}
if owner == '' or owner ~= ARGV[1] or l[2] ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'owner', '', 'expires', '0')
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1`

const INFO = `${NOW}
if owner == '' then return {} end
return {owner, l[2], expires - now}`

export type RunScript = (sha: string, script: string, keys: string[], args: Array<string | Buffer>) => Promise<unknown>

const script = (text: string) => ({ text, sha: createHash('sha1').update(text).digest('hex') })
const SCRIPTS = { acquire: script(ACQUIRE), renew: script(RENEW), release: script(RELEASE), info: script(INFO) }

export function redisLease(runScript: RunScript, leaseKey: (session: string) => string, events: { channel: string; extras: LeaseExtras }): LeaseCapability {
  const run = (name: keyof typeof SCRIPTS, session: string, args: Array<string | number>) =>
    runScript(SCRIPTS[name].sha, SCRIPTS[name].text, [leaseKey(session)], args.map(String))
  return leaseCapability(
    {
      async acquire({ session, owner, ttlMs, replace }) {
        // '' never matches: an empty owner is already free.
        const [ok, value, ms] = (await run('acquire', session, [owner, ttlMs, replace ?? ''])) as [number, Buffer, number]
        return ok === 1 ? { epoch: Number(value.toString()) } : { heldBy: value.toString('utf8'), expiresInMs: ms }
      },
      async renew({ session, owner, epoch, ttlMs }) {
        return (await run('renew', session, [owner, epoch, ttlMs])) === 1
      },
      async release({ session, owner, epoch }) {
        // Published in the same script: standbys on the channel wake at once.
        await run('release', session, [owner, epoch, events.channel, `r:${session}`])
      },
      async info(session) {
        const reply = (await run('info', session, [])) as [Buffer, Buffer, number] | []
        if (reply.length === 0) return undefined
        return { owner: reply[0].toString('utf8'), epoch: Number(reply[1].toString()), expiresInMs: reply[2] }
      }
    },
    undefined,
    events.extras
  )
}
