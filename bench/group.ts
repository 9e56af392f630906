import { Curve, proto } from '@whiskeysockets/baileys'
import { bundleOf, setupDevice, signalOf } from './signal.js'
import { startCpuMeter } from './cpu-meter.js'
import { Store } from '../src/store/store.js'
import type { BenchAuth, BenchConnection, BenchTarget } from './targets.js'
import { envInt, first, fmt, interleaved, load, median, printTable, ratioWithSpread, ratioGoal } from './util.js'

/**
 * Group fan-out (issue 6, workload 1): the first send to a group of M members x D devices, as
 * Baileys' relayMessage does it inside one keys.transaction: read sender-key-memory, create the
 * sender key and encrypt the group message, validate every device's session (a `session` read
 * each), encrypt the sender-key distribution message for every device, record them in
 * sender-key-memory; the transaction then commits all updated sessions, the sender key and
 * sender-key-memory in ONE keys.set. The sender's store is the store under test, seeded with an
 * open session to every device (built once, copied into each target). The plain Map run is the
 * crypto time; store overhead = (target - plain) / plain.
 */
const ME = '15550000000:0@s.whatsapp.net'

export async function buildSender(members: number, devicesPer: number) {
  const sender = setupDevice()
  const recipient = setupDevice() // one identity for every recipient device: the sessions still differ
  const devices: string[] = []
  for (let m = 0; m < members; m++) for (let d = 0; d < devicesPer; d++) devices.push(`1556${String(m).padStart(7, '0')}:${d + 1}@s.whatsapp.net`)
  let keyId = 1
  for (const jid of devices) {
    const preKey = Curve.generateKeyPair()
    await sender.repo.injectE2ESession({ jid, session: bundleOf(recipient.creds, keyId++, preKey) })
  }
  return { creds: sender.creds, keys: sender.store.dump(), devices }
}

type Seed = Awaited<ReturnType<typeof buildSender>>

/** Stores the seed (creds and every key) in a fresh auth state of the sender. */
export async function seedSender(conn: BenchConnection, seed: Seed) {
  const { state, saveCreds } = await conn.auth('sender')
  Object.assign(state.creds, seed.creds)
  await saveCreds()
  await state.keys.set(seed.keys as any)
  return state
}

/** The timed part: relayMessage's transaction for a first send to the group. */
export async function sendToGroup(state: BenchAuth['state'], seed: Seed, group: string): Promise<{ ms: number; cpuMs: number; commitKeys: number }> {
  let commitKeys = 0
  const inner = state.keys.set.bind(state.keys)
  state.keys.set = async data => {
    for (const type in data) commitKeys += Object.keys((data as any)[type]).length
    return inner(data)
  }
  const { keys, repo } = signalOf(state)
  const data = Buffer.from('hello group')
  const start = performance.now()
  const cpu = startCpuMeter()
  await keys.transaction(async () => {
    const memory: Record<string, boolean> = (await keys.get('sender-key-memory', [group]))[group] || {}
    const { senderKeyDistributionMessage } = await repo.encryptGroupMessage({ group, meId: ME, data })
    const skdm = proto.Message.encode({
      senderKeyDistributionMessage: { groupId: group, axolotlSenderKeyDistributionMessage: senderKeyDistributionMessage }
    }).finish()
    for (const jid of seed.devices) {
      if (!(await repo.validateSession(jid)).exists) throw new Error(`no session for ${jid}`)
    }
    await Promise.all(seed.devices.map(jid => repo.encryptMessage({ jid, data: skdm })))
    for (const jid of seed.devices) memory[jid] = true
    await keys.set({ 'sender-key-memory': { [group]: memory } })
  }, ME)
  const ms = performance.now() - start
  return { ms, cpuMs: cpu(1).process / 1000, commitKeys }
}

/** Warm: the keys were just written through this auth state, so its cache holds them. */
async function fanOut(target: BenchTarget, seed: Seed, group: string): Promise<{ ms: number; commitKeys: number }> {
  const backend = await target.open()
  try {
    return await sendToGroup(await seedSender(backend, seed), seed, group)
  } finally {
    await backend.destroy()
  }
}

/** What the store did during a cold send: driver calls, rows it returned, values it decoded. */
interface ReadCounts {
  driverGets: number
  driverLists: number
  rows: number
  decoded: number
}

/** Counts a vault store's driver reads and codec decodes (its objects are plain: wrapped in place). */
function countReads(store: Store | undefined): ReadCounts {
  const counts = { driverGets: 0, driverLists: 0, rows: 0, decoded: 0 }
  if (!store) return counts
  const { driver, codec } = Store.internals(store)
  const get = driver.get.bind(driver)
  const list = driver.list.bind(driver)
  const decode = codec.decode.bind(codec)
  driver.get = async (session, type, ids) => {
    counts.driverGets++
    const found = await get(session, type, ids)
    counts.rows += found.size
    return found
  }
  driver.list = async function* (session, type, options) {
    counts.driverLists++
    for await (const entry of list(session, type, options)) {
      counts.rows++
      yield entry
    }
  }
  codec.decode = (...args) => {
    counts.decoded++
    return decode(...args)
  }
  return counts
}

/**
 * Cold (issue 15): the sender's store was just reopened (a restart), so nothing is cached, and
 * the send reads every device's keys one by one as Baileys does.
 */
export async function coldFanOut(target: BenchTarget, seed: Seed, group: string): Promise<{ ms: number; cpuMs: number; counts: ReadCounts }> {
  const backend = await target.create()
  try {
    const first = await backend.connect()
    await seedSender(first, seed)
    await first.close()
    const conn = await backend.connect()
    try {
      const counts = countReads(conn.store)
      const { state } = await conn.auth('sender')
      const { ms, cpuMs } = await sendToGroup(state, seed, group)
      return { ms, cpuMs, counts }
    } finally {
      await conn.close()
    }
  } finally {
    await backend.destroy()
  }
}

async function runColdGroup(targets: BenchTarget[], rounds: number): Promise<void> {
  const devices = envInt('BENCH_GROUP_COLD_DEVICES', 300)
  const devicesPer = 2
  const members = Math.ceil(devices / devicesPer)
  console.log(
    `## Cold group send — store just reopened (no cache), first send to ${members} members x ${devicesPer} devices, one read per key as Baileys makes them, median of ${rounds} interleaved rounds\n`
  )
  const seed = await buildSender(members, devicesPer)
  await coldFanOut(first(targets, 'target'), seed, 'warmup@g.us')
  const counts = new Map<string, ReadCounts>()
  const cpu = new Map<string, number[]>(targets.map(t => [t.name, []]))
  const loadAtStart = load()
  const results = await interleaved(targets, rounds, async (t, round) => {
    const r = await coldFanOut(t, seed, `12036300000001${round}@g.us`)
    counts.set(t.name, r.counts)
    cpu.get(t.name)!.push(r.cpuMs)
    return r.ms
  })
  const loadAtEnd = load()
  const base = first(targets, 'target').name
  const inMemory = median(results.get(base)!)
  printTable(
    [
      'store',
      'send ms',
      'vs in-memory',
      'wall range over rounds',
      'target',
      'CPU ms',
      'CPU vs in-memory',
      'CPU range over rounds',
      'driver get calls',
      'driver listings',
      'rows read',
      'values decoded'
    ],
    targets.map(t => {
      const ms = median(results.get(t.name)!)
      const cpuMs = median(cpu.get(t.name)!)
      const wallRatio = ratioWithSpread(results.get(t.name)!, results.get(base)!, false)
      const cpuRatio = ratioWithSpread(cpu.get(t.name)!, cpu.get(base)!, false)
      const c = counts.get(t.name)!
      const goal = t.kind === 'sqlite' && t.name.endsWith('(default)') ? 0.9 : undefined
      const vault = t.kind !== 'plain' && t.kind !== 'baileys'
      return [
        t.name,
        fmt(ms),
        wallRatio.ratio,
        wallRatio.spread,
        ratioGoal(goal, inMemory / ms),
        fmt(cpuMs),
        cpuRatio.ratio,
        cpuRatio.spread,
        ...(vault ? [c.driverGets, c.driverLists, c.rows, c.decoded].map(String) : ['', '', '', ''])
      ]
    })
  )
  console.log(
    `(counts are those of the last round; "vs in-memory" is the plain Map's send time / the store's; CPU: this process's user+system time during the send, which a shared machine's load inflates much less than wall time, and which leaves out the commit's fsync wait; ranges: the same ratio per interleaved round; load average ${loadAtStart} at start, ${loadAtEnd} at end)\n`
  )
}

export async function runGroup(targets: BenchTarget[]): Promise<void> {
  const members = envInt('BENCH_GROUP_MEMBERS', 500)
  const devicesPer = envInt('BENCH_GROUP_DEVICES', 2)
  const rounds = envInt('BENCH_GROUP_ROUNDS', 3)
  await runColdGroup(targets, rounds)
  console.log(
    `## Group fan-out — first send to ${members} members x ${devicesPer} devices (${members * devicesPer} session reads + encrypts, one commit), median of ${rounds} interleaved rounds\n`
  )
  const seed = await buildSender(members, devicesPer)
  await fanOut(first(targets, 'target'), seed, 'warmup@g.us')
  let commitKeys = 0
  const results = await interleaved(targets, rounds, async (t, round) => {
    const r = await fanOut(t, seed, `12036300000000${round}@g.us`)
    commitKeys = r.commitKeys
    return r.ms
  })
  const crypto = median(results.get(first(targets, 'target').name)!)
  const goal: Record<string, number> = { sqlite: 15, postgres: 30, redis: 30 }
  printTable(
    ['store', 'send ms', 'store overhead (% of crypto)', 'target'],
    targets.map(t => {
      const ms = median(results.get(t.name)!)
      const overhead = ((ms - crypto) / crypto) * 100
      const g = t.kind === 'sqlite' && t.name.endsWith('(default)') ? goal.sqlite : t.kind === 'postgres' || t.kind === 'redis' ? goal[t.kind] : undefined
      return [
        t.name,
        fmt(ms),
        t.kind === 'plain' ? '(crypto time)' : `${fmt(overhead, 1)}%`,
        g === undefined ? '' : `<= ${g}% ${overhead <= g ? 'met' : 'NOT met'}`
      ]
    })
  )
  console.log(`(the commit held ${commitKeys} keys)\n`)
}
