import { Curve, INITIAL_PREKEY_COUNT } from '@whiskeysockets/baileys'
import { signalOf } from './signal.js'
import type { BenchTarget } from './targets.js'
import { envInt, fmt, interleaved, median, printTable, first } from './util.js'

/**
 * Login burst (issue 6, workload 2): what Baileys writes on a first login — creds saved on
 * pairing, then uploadPreKeys(INITIAL_PREKEY_COUNT): one keys.transaction that stores 812
 * pre-keys (one commit) followed by creds.update -> saveCreds — then the store is closed,
 * opened again and everything read back (creds + the 812 pre-keys in one keys.get).
 * Key generation is done before the clock starts; the times are store time only.
 */
export async function loginBurst(target: BenchTarget, count: number, preKeys: Record<number, { public: Uint8Array; private: Uint8Array }>) {
  const backend = await target.create()
  try {
    let conn = await backend.connect()
    const { state, saveCreds } = await conn.auth('login')
    const start = performance.now()
    await saveCreds() // pair-success: creds.update
    const { keys } = signalOf(state)
    await keys.transaction(async () => {
      await keys.set({ 'pre-key': preKeys })
    }, 'upload-pre-keys')
    state.creds.nextPreKeyId = count + 1
    state.creds.firstUnuploadedPreKeyId = count + 1
    await saveCreds()
    const written = performance.now()
    await conn.close()
    const reopenStart = performance.now()
    conn = await backend.connect()
    const again = await conn.auth('login')
    const got = await again.state.keys.get('pre-key', Object.keys(preKeys))
    const read = performance.now()
    if (Object.keys(got).length !== count || again.state.creds.nextPreKeyId !== count + 1)
      throw new Error(`${target.name}: read back ${Object.keys(got).length} pre-keys`)
    await conn.close()
    return { write: written - start, read: read - reopenStart }
  } finally {
    await backend.destroy()
  }
}

export async function runLogin(targets: BenchTarget[]): Promise<void> {
  const count = envInt('BENCH_LOGIN_PREKEYS', INITIAL_PREKEY_COUNT)
  const rounds = envInt('BENCH_LOGIN_ROUNDS', 7)
  console.log(`## Login burst — creds + ${count} pre-keys written as on a first login, close, reopen, read back; median of ${rounds} interleaved rounds\n`)
  const preKeys: Record<number, { public: Uint8Array; private: Uint8Array }> = {}
  for (let i = 1; i <= count; i++) preKeys[i] = Curve.generateKeyPair()
  await loginBurst(first(targets, 'target'), count, preKeys)
  const writes = new Map<string, number[]>()
  const results = await interleaved(targets, rounds, async t => {
    const r = await loginBurst(t, count, preKeys)
    writes.set(t.name, [...(writes.get(t.name) ?? []), r.write])
    return r.read
  })
  printTable(
    ['store', 'write ms', 'reopen + read ms', 'total ms', 'target'],
    targets.map(t => {
      const w = median(writes.get(t.name)!)
      const r = median(results.get(t.name)!)
      const goal = t.name === 'baileys-vault sqlite: (default)' ? `<= 50 ms ${w + r <= 50 ? 'met' : 'NOT met'}` : ''
      return [t.name, fmt(w, 1), fmt(r, 1), fmt(w + r, 1), goal]
    })
  )
}
