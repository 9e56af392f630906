import { Curve, proto } from '@whiskeysockets/baileys'
import { bundleOf, setupDevice, signalOf } from './signal.js'
import type { BenchTarget } from './targets.js'
import { envInt, fmt, interleaved, median, printTable } from './util.js'

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

async function buildSender(members: number, devicesPer: number) {
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

async function fanOut(target: BenchTarget, seed: Awaited<ReturnType<typeof buildSender>>, group: string): Promise<{ ms: number; commitKeys: number }> {
  const backend = await target.open()
  try {
    const { state, saveCreds } = await backend.auth('sender')
    Object.assign(state.creds, seed.creds)
    await saveCreds()
    await state.keys.set(seed.keys as any)
    let commitKeys = 0
    const inner = state.keys.set.bind(state.keys)
    state.keys.set = async data => {
      for (const type in data) commitKeys += Object.keys((data as any)[type]).length
      return inner(data)
    }
    const { keys, repo } = signalOf(state)
    const data = Buffer.from('hello group')
    const start = performance.now()
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
    return { ms: performance.now() - start, commitKeys }
  } finally {
    await backend.destroy()
  }
}

export async function runGroup(targets: BenchTarget[]): Promise<void> {
  const members = envInt('BENCH_GROUP_MEMBERS', 500)
  const devicesPer = envInt('BENCH_GROUP_DEVICES', 2)
  const rounds = envInt('BENCH_GROUP_ROUNDS', 3)
  console.log(
    `## Group fan-out — first send to ${members} members x ${devicesPer} devices (${members * devicesPer} session reads + encrypts, one commit), median of ${rounds} interleaved rounds\n`
  )
  const seed = await buildSender(members, devicesPer)
  await fanOut(targets[0], seed, 'warmup@g.us')
  let commitKeys = 0
  const results = await interleaved(targets, rounds, async (t, round) => {
    const r = await fanOut(t, seed, `12036300000000${round}@g.us`)
    commitKeys = r.commitKeys
    return r.ms
  })
  const crypto = median(results.get(targets[0].name)!)
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
