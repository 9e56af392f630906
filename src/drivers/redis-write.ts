import { createHash } from 'node:crypto'
import type { WriteBatch } from '../core/driver.js'
import { VaultError } from '../core/errors.js'
import { bufferView, typeIdKey } from '../core/bytes.js'
import { isEmptyBatch, type GroupedBatch } from './group-commit.js'
import type { RunScript } from './redis-lease.js'
import { leaseLost } from './shared-lease.js'

/** Arguments per HSET/ZADD call inside the script (Lua's unpack has a limit of ~8000). */
const CHUNK = 1000

/**
 * ONE script applies the batches of many sessions (a group commit, or a single write): Redis
 * runs it alone, so it is one command, one reply and one AOF entry (a MULTI/EXEC block that a
 * truncated AOF drops whole) for all of them.
 *
 * KEYS: the sessions index, then per batch its creds, keys hash, listing index and lease hash.
 * ARGV per batch: session, expected epoch ('' = not fenced), creds flag, creds, number of sets,
 * number of deletes, the sets as field/value pairs, the deleted fields.
 *
 * Each batch is checked before anything of it is written, and one that fails a check is left
 * out alone: fenced out (its lease no longer holds the epoch: 0), or a key the batch writes
 * holds another Redis type than ours (written by something else: -1; Redis would stop the
 * script half-way on it). Then its sets, then its deletes (a key in both ends up deleted, like
 * every driver). The sessions index is only looked at when the batch could have emptied the
 * session (it deletes keys): Redis runs this script on the same cores as the gateway's crypto,
 * so every call it does not make counts. Returns one code per batch: 1 landed, 0 fenced out,
 * -1 wrong type.
 */
const WRITE_GROUP_SCRIPT = `
local function typeOk(key, want)
  local t = redis.call('TYPE', key)['ok']
  return t == 'none' or t == want
end
local out = {}
local a = 1
for b = 0, (#KEYS - 1) / 4 - 1 do
  local creds, keys, index, lease = KEYS[2 + b * 4], KEYS[3 + b * 4], KEYS[4 + b * 4], KEYS[5 + b * 4]
  local session, epoch, hasCreds = ARGV[a], ARGV[a + 1], ARGV[a + 2] == '1'
  local nset, ndel = tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])
  local first = a + 6
  local lastSet = first + nset * 2 - 1
  local lastDel = lastSet + ndel
  local code = 1
  if epoch ~= '' then
    local l = redis.call('HMGET', lease, 'owner', 'epoch')
    if not l[1] or l[1] == '' or l[2] ~= epoch then code = 0 end
  end
  if code == 1 and ((hasCreds and not typeOk(creds, 'string')) or (lastDel >= first and not (typeOk(keys, 'hash') and typeOk(index, 'zset')))) then code = -1 end
  if code == 1 then
    if hasCreds then redis.call('SET', creds, ARGV[a + 3]) end
    local i = first
    while i <= lastSet do
      local stop = math.min(i + 2 * ${CHUNK} - 1, lastSet)
      local h, z = {}, {}
      for j = i, stop, 2 do
        h[#h + 1] = ARGV[j]; h[#h + 1] = ARGV[j + 1]
        z[#z + 1] = '0'; z[#z + 1] = ARGV[j]
      end
      redis.call('HSET', keys, unpack(h))
      redis.call('ZADD', index, unpack(z))
      i = stop + 1
    end
    i = lastSet + 1
    while i <= lastDel do
      local stop = math.min(i + ${CHUNK} - 1, lastDel)
      local d = {}
      for j = i, stop do d[#d + 1] = ARGV[j] end
      redis.call('HDEL', keys, unpack(d))
      redis.call('ZREM', index, unpack(d))
      i = stop + 1
    end
    if ndel == 0 then
      if hasCreds or nset > 0 then redis.call('ZADD', KEYS[1], 0, session) end
    elseif redis.call('EXISTS', creds) == 1 or redis.call('ZCARD', index) > 0 then
      redis.call('ZADD', KEYS[1], 0, session)
    else
      redis.call('ZREM', KEYS[1], session)
    end
  end
  out[#out + 1] = code
  a = lastDel + 1
end
return out`

const WRITE_GROUP_SHA = createHash('sha1').update(WRITE_GROUP_SCRIPT).digest('hex')

export interface RedisKeys {
  sessions: string
  creds(session: string): string
  keys(session: string): string
  index(session: string): string
  lease(session: string): string
}

const wrongType = (session: string) =>
  new VaultError(
    'CORRUPT_DATA',
    `A Redis key of session "${session}" holds a value of another type than baileys-vault writes (something else wrote under this store's prefix). Nothing of this write landed; use another prefix or remove that key.`
  )

/** One batch of the script: the group's batches it applies together (see sharedBatches). */
interface ScriptBatch extends GroupedBatch {
  members: GroupedBatch[]
}

/**
 * The group's batches as the script applies them, in arrival order. A batch without creds
 * joins its session's previous one when that carries the same epoch, no creds either and none
 * of its keys (a retry store record and the keys of its send): one lease check and one set of
 * HSET/ZADD calls for both, and they land or fail together, as one check would decide for both
 * anyway. Otherwise it stays a batch of its own, so writes of one key land in order. (Other
 * sessions' batches between them do not matter: no Redis key is shared between sessions.)
 */
function sharedBatches(group: readonly GroupedBatch[]): ScriptBatch[] {
  const out: ScriptBatch[] = []
  const last = new Map<string, ScriptBatch>()
  for (const g of group) {
    const prev = last.get(g.session)
    if (prev && canShare(prev.batch, g.batch)) {
      prev.batch = { set: [...prev.batch.set, ...g.batch.set], del: [...prev.batch.del, ...g.batch.del], epoch: g.batch.epoch }
      prev.members.push(g)
      continue
    }
    const own: ScriptBatch = { session: g.session, batch: g.batch, members: [g] }
    out.push(own)
    last.set(g.session, own)
  }
  return out
}

/** Same epoch, no creds, no key in common: the two batches can be applied as one. */
function canShare(a: WriteBatch, b: WriteBatch): boolean {
  if (a.epoch !== b.epoch || a.creds || b.creds) return false
  const keys = new Set<string>()
  for (const [type, id] of a.set) keys.add(typeIdKey(type, id))
  for (const [type, id] of a.del) keys.add(typeIdKey(type, id))
  for (const [type, id] of b.set) if (keys.has(typeIdKey(type, id))) return false
  for (const [type, id] of b.del) if (keys.has(typeIdKey(type, id))) return false
  return true
}

/**
 * Applies batches with the group script: `applyGroup` for group commit (group-commit.ts),
 * `writeOne` for a single write. Outcomes per batch: undefined (landed) or its own error.
 */
export function redisWriter({ runScript, keys }: { runScript: RunScript; keys: RedisKeys }) {
  function applyGroup(group: readonly GroupedBatch[]): Promise<unknown[]> {
    const live = sharedBatches(group.filter(g => !isEmptyBatch(g.batch)))
    if (live.length === 0) return Promise.resolve(group.map(() => undefined))
    const scriptKeys = [keys.sessions]
    const args: Array<string | Buffer> = []
    for (const { session, batch } of live) {
      scriptKeys.push(keys.creds(session), keys.keys(session), keys.index(session), keys.lease(session))
      const epoch = batch.epoch === undefined ? '' : String(batch.epoch)
      args.push(session, epoch, batch.creds ? '1' : '0', batch.creds ? bufferView(batch.creds) : '', String(batch.set.length), String(batch.del.length))
      for (const [type, id, value] of batch.set) args.push(typeIdKey(type, id), bufferView(value))
      for (const [type, id] of batch.del) args.push(typeIdKey(type, id))
    }
    // Batches of one session apply in arrival order inside the script, so a session may appear twice.
    // (.then, not await: one promise fewer per group, see runScript.)
    return runScript(WRITE_GROUP_SHA, WRITE_GROUP_SCRIPT, scriptKeys, args).then(reply => {
      const codes = reply as number[]
      if (!Array.isArray(codes) || codes.length !== live.length) throw new Error(`the Redis write script returned ${String(codes)} for ${live.length} batches`)
      const byBatch = new Map<GroupedBatch, number | undefined>()
      live.forEach(({ members }, i) => members.forEach(g => byBatch.set(g, codes[i])))
      return group.map(g => {
        const code = byBatch.get(g)
        if (code === undefined || code === 1) return undefined
        return code === 0 ? leaseLost(g.session, g.batch.epoch!) : wrongType(g.session)
      })
    })
  }

  async function writeOne(session: string, batch: WriteBatch): Promise<void> {
    const [outcome] = await applyGroup([{ session, batch }])
    if (outcome !== undefined) throw outcome
  }

  return { applyGroup, writeOne }
}
