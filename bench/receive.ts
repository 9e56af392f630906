import { Curve, initAuthCreds } from '@whiskeysockets/baileys'
import { bundleOf, setupDevice, signalOf } from './signal.js'
import type { BenchConnection, BenchTarget } from './targets.js'
import { must } from '../src/core/defined.js'
import { envInt, fmt, interleaved, median, printTable, ratio, first } from './util.js'

/**
 * Receive burst (issue 6, workload 3): a device comes back online to M queued messages from C
 * contacts, sessions already established both ways (so they are ordinary `msg`s, each one a
 * ratchet step and a session write). The receiver's state is built once, copied into each
 * target; then the store is (re)opened and the messages decrypted in arrival order, each in its
 * own Baileys transaction (one commit per message, as the socket does). msg/s from the reopen.
 */
const ME = '15551110000:0@s.whatsapp.net'

/** `firstContact` numbers the contacts' JIDs: libsignal queues work per peer address process-wide. */
export async function buildBurst(contacts: number, messages: number, firstContact = 0) {
  const me = setupDevice()
  const peers = []
  for (let c = 0; c < contacts; c++) {
    const jid = `1557${String(firstContact + c).padStart(7, '0')}:0@s.whatsapp.net`
    const peer = setupDevice(initAuthCreds())
    const preKey = Curve.generateKeyPair()
    await me.store.keys.set({ 'pre-key': { [c + 1]: preKey } })
    await peer.repo.injectE2ESession({ jid: ME, session: bundleOf(me.creds, c + 1, preKey) })
    // hello (pkmsg) and a reply: the session is confirmed on both sides
    const hello = await peer.repo.encryptMessage({ jid: ME, data: Buffer.from('hello') })
    await me.repo.decryptMessage({ jid, type: hello.type, ciphertext: hello.ciphertext })
    const reply = await me.repo.encryptMessage({ jid, data: Buffer.from('hi') })
    await peer.repo.decryptMessage({ jid: ME, type: reply.type, ciphertext: reply.ciphertext })
    peers.push({ jid, peer })
  }
  const queue = []
  for (let i = 0; i < messages; i++) {
    const { jid, peer } = must(peers[i % contacts], 'one peer per contact')
    const text = `queued ${i}`
    const { type, ciphertext } = await peer.repo.encryptMessage({ jid: ME, data: Buffer.from(text) })
    queue.push({ jid, type, ciphertext, text })
  }
  return { creds: me.creds, keys: me.store.dump(), queue }
}

export type Burst = Awaited<ReturnType<typeof buildBurst>>

/** Copies a device built by buildBurst into `session` of an open target. */
export async function seedAccount(conn: BenchConnection, session: string, burst: Burst): Promise<void> {
  const seeded = await conn.auth(session)
  Object.assign(seeded.state.creds, burst.creds)
  await seeded.saveCreds()
  await seeded.state.keys.set(burst.keys as any)
}

async function receive(target: BenchTarget, burst: Burst): Promise<number> {
  const backend = await target.create()
  try {
    let conn = await backend.connect()
    await seedAccount(conn, 'me', burst)
    await conn.close()
    const start = performance.now()
    conn = await backend.connect()
    const { state } = await conn.auth('me')
    const { repo } = signalOf(state)
    for (const m of burst.queue) {
      const plain = await repo.decryptMessage({ jid: m.jid, type: m.type, ciphertext: m.ciphertext })
      if (Buffer.from(plain).toString() !== m.text) throw new Error(`${target.name}: decrypt mismatch`)
    }
    const seconds = (performance.now() - start) / 1000
    await conn.close()
    return burst.queue.length / seconds
  } finally {
    await backend.destroy()
  }
}

export async function runReceive(targets: BenchTarget[]): Promise<void> {
  const contacts = envInt('BENCH_RECEIVE_CONTACTS', 200)
  const messages = envInt('BENCH_RECEIVE_MESSAGES', 5000)
  const rounds = envInt('BENCH_RECEIVE_ROUNDS', 1) // ~3 min per round at the size on 2 cores; raise for medians
  console.log(`## Receive burst — ${messages} queued messages from ${contacts} contacts decrypted after a reconnect, median of ${rounds} interleaved rounds\n`)
  const burst = await buildBurst(contacts, messages)
  const results = await interleaved(targets, rounds, t => receive(t, burst))
  const ceiling = median(results.get(first(targets, 'target').name)!)
  printTable(
    ['store', 'msg/s', 'vs in-memory', 'burst s'],
    targets.map(t => {
      const m = median(results.get(t.name)!)
      return [t.name, fmt(m), ratio(m, ceiling), fmt(messages / m, 1)]
    })
  )
}
