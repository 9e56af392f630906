import { Curve, initAuthCreds } from '@whiskeysockets/baileys'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, statSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { encodeValue } from '../src/codec/values.js'
import { openStore, type OpenStoreOptions } from '../src/open-store.js'
import { bundleOf, setupDevice, signalOf } from './signal.js'
import { pgSchema, postgresSize, withPg, type BenchTarget } from './targets.js'
import { must } from '../src/core/defined.js'
import { envInt, fmt, mb, percentile, printTable, uniqueId } from './util.js'

/**
 * Many accounts (issue 6, workload 4): A accounts x K keys in ONE SQLite database and ONE
 * PostgreSQL database. Every account is a copy of one real linked device (creds, pre-keys) plus
 * realistic filler (Signal sessions, sender keys, LID mappings, device lists, identity keys, with
 * real value sizes), so one real contact's first message (a pkmsg) decrypts in any account.
 * Measured: time to open an account (useAuthState) and decrypt its first message, p50/p99 over
 * a sample, on a freshly opened store; resident memory of a separate process holding 100 open
 * accounts (after the first message, and after reading every key, with the default read cache
 * and a small one: the cache is bounded by `cacheEntries`); database size per account.
 */
const ME = '15552220000:0@s.whatsapp.net'
const CONTACT = '15559990000:0@s.whatsapp.net'

export async function buildTemplate(keysPerAccount: number) {
  const me = setupDevice()
  const preKeyCount = Math.round(keysPerAccount * 0.4)
  for (let i = 1; i <= preKeyCount; i++) await me.store.keys.set({ 'pre-key': { [i]: Curve.generateKeyPair() } })
  // The contact whose first message every account decrypts (pre-key 1).
  const contact = setupDevice()
  await contact.repo.injectE2ESession({ jid: ME, session: bundleOf(me.creds, 1, (await me.store.keys.get('pre-key', ['1']))['1']) })
  const first = await contact.repo.encryptMessage({ jid: ME, data: Buffer.from('first message') })
  // A realistic session record: a conversation with a few ratchet steps and two re-keys.
  const peer = setupDevice(initAuthCreds())
  const peerJid = '15558880000:0@s.whatsapp.net'
  for (let rekey = 0; rekey < 3; rekey++) {
    const id = 10_000 + rekey
    const pk = Curve.generateKeyPair()
    await me.store.keys.set({ 'pre-key': { [id]: pk } })
    await peer.repo.injectE2ESession({ jid: ME, session: bundleOf(me.creds, id, pk) })
    for (let i = 0; i < 6; i++) {
      const a = await peer.repo.encryptMessage({ jid: ME, data: Buffer.from(`m${i}`) })
      await me.repo.decryptMessage({ jid: peerJid, type: a.type, ciphertext: a.ciphertext })
      const b = await me.repo.encryptMessage({ jid: peerJid, data: Buffer.from(`r${i}`) })
      await peer.repo.decryptMessage({ jid: ME, type: b.type, ciphertext: b.ciphertext })
    }
  }
  const session = (await me.store.keys.get('session', ['15558880000.0']))['15558880000.0']
  await peer.repo.encryptGroupMessage({ group: '120363000000000001@g.us', meId: peerJid, data: Buffer.from('g') })
  const senderKey = Object.values(must(peer.store.dump()['sender-key'], 'encryptGroupMessage stored a sender key'))[0]
  const identity = Buffer.concat([Buffer.from([5]), Buffer.from(peer.creds.signedIdentityKey.public)])

  // Encoded once; every account gets the same bytes (sizes are what matter here).
  const set: Array<[string, string, Uint8Array]> = []
  const preKeys = must(me.store.dump()['pre-key'], 'the pre-keys were set above')
  for (let i = 1; i <= preKeyCount; i++) set.push(['pre-key', String(i), encodeValue(preKeys[i])])
  const enc = { session: encodeValue(session), sender: encodeValue(senderKey), identity: encodeValue(identity) }
  const rest = keysPerAccount - preKeyCount
  const mix: Array<[string, number]> = [
    ['session', Math.round(rest * 0.5)],
    ['sender-key', Math.round(rest * 0.17)],
    ['lid-mapping', Math.round(rest * 0.17)],
    ['device-list', Math.round(rest * 0.12)]
  ]
  mix.push(['identity-key', rest - mix.reduce((n, [, c]) => n + c, 0)])
  for (const [type, count] of mix) {
    for (let i = 0; i < count; i++) {
      const user = `1558${String(i).padStart(7, '0')}`
      if (type === 'session') set.push([type, `${user}.1`, enc.session])
      else if (type === 'sender-key') set.push([type, `1203630000${String(i).padStart(8, '0')}@g.us::${user}::0`, enc.sender])
      else if (type === 'lid-mapping') set.push([type, user, encodeValue(`${200000000000000 + i}`)])
      else if (type === 'device-list') set.push([type, user, encodeValue(['0', '1'])])
      else set.push([type, `${user}.1`, enc.identity])
    }
  }
  return { creds: encodeValue(me.creds), set, first, sessionBytes: enc.session.byteLength }
}

type Template = Awaited<ReturnType<typeof buildTemplate>>

interface Db {
  name: string
  url: string
  options: OpenStoreOptions
  size(): Promise<number>
  cleanup(): Promise<void>
}

function databases(): Db[] {
  const dir = mkdtempSync(join(tmpdir(), 'vault-many-'))
  const path = join(dir, 'many.db')
  const dbs: Db[] = [
    {
      name: 'sqlite: (default, shared flush)',
      url: `sqlite:${path}`,
      options: {},
      size: async () => [path, `${path}-wal`].filter(existsSync).reduce((n, p) => n + statSync(p).size, 0),
      cleanup: async () => rmSync(dir, { recursive: true, force: true })
    }
  ]
  if (process.env.VAULT_TEST_POSTGRES_URL) {
    const id = uniqueId()
    dbs.push({
      name: 'postgres://',
      url: process.env.VAULT_TEST_POSTGRES_URL,
      options: { postgres: { schema: pgSchema(id) } },
      size: () => postgresSize(id),
      cleanup: () => withPg(c => c.query(`DROP SCHEMA IF EXISTS "${pgSchema(id)}" CASCADE`))
    })
  }
  return dbs
}

/** libsignal logs every session it closes with console.info/log: silence it during setup. */
export async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const saved = { log: console.log, info: console.info, warn: console.warn }
  console.log = console.info = console.warn = () => {}
  try {
    return await fn()
  } finally {
    Object.assign(console, saved)
  }
}

export const account = (i: number) => `acct-${String(i).padStart(5, '0')}`
const child = fileURLToPath(new URL('./many-accounts-child.js', import.meta.url))

async function rssChild(db: Db, sessions: string[], cacheEntries: number | undefined, t: Template) {
  const spec = { url: db.url, options: db.options, sessions, cacheEntries, jid: CONTACT, ciphertext: Buffer.from(t.first.ciphertext).toString('base64') }
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', child, JSON.stringify(spec)], { maxBuffer: 1 << 20, env: process.env })
  return JSON.parse(stdout) as { afterFirst: number; afterAll: number; heapFirst: number; heapAll: number }
}

export async function runManyAccounts(_targets: BenchTarget[]): Promise<void> {
  const accounts = envInt('BENCH_ACCOUNTS', 1000)
  const keysPer = envInt('BENCH_ACCOUNT_KEYS', 2000)
  const holding = Math.min(100, Math.floor(accounts / 4))
  const samples = Math.min(envInt('BENCH_ACCOUNT_SAMPLES', 200), accounts - 2 * holding)
  console.log(
    `## Many accounts — ${accounts} accounts x ${keysPer} keys in one database; open + first decrypt over ${samples} accounts; RSS of a process holding ${holding} accounts\n`
  )
  const t = await quietly(() => buildTemplate(keysPer))
  const rows: string[][] = []
  const memRows: string[][] = []
  for (const db of databases()) {
    try {
      let store = await openStore(db.url, db.options)
      const fillStart = performance.now()
      for (let i = 0; i < accounts; i++) await store.writeRaw(account(i), { creds: t.creds, set: t.set, del: [] })
      const fillS = (performance.now() - fillStart) / 1000
      await store.close()
      const size = await db.size()

      // Fresh store object: cold read cache, as after a restart.
      store = await openStore(db.url, db.options)
      const order = Array.from({ length: accounts }, (_, i) => i).sort(() => Math.random() - 0.5)
      const times: number[] = []
      for (const i of order.slice(0, samples)) {
        const start = performance.now()
        const { state } = await store.useAuthState(account(i))
        const { repo } = signalOf(state as any)
        const plain = await repo.decryptMessage({ jid: CONTACT, type: t.first.type, ciphertext: t.first.ciphertext })
        times.push(performance.now() - start)
        if (Buffer.from(plain).toString() !== 'first message') throw new Error('decrypt mismatch')
      }
      await store.close()
      const p99 = percentile(times, 99)
      rows.push([
        db.name,
        fmt(fillS, 1),
        fmt((accounts * keysPer) / fillS),
        fmt(percentile(times, 50), 1),
        fmt(p99, 1),
        `<= 20 ms ${p99 <= 20 ? 'met' : 'NOT met'}`,
        mb(size / accounts)
      ])

      for (const [k, cacheEntries] of [undefined, 250].entries()) {
        // Each child gets accounts that never decrypted their first message yet.
        const held = order.slice(samples + k * holding, samples + (k + 1) * holding).map(account)
        const r = await rssChild(db, held, cacheEntries, t)
        memRows.push([
          db.name,
          cacheEntries === undefined ? '5000 (default)' : String(cacheEntries),
          mb(r.afterFirst / holding),
          mb(r.afterAll / holding),
          mb(r.heapAll / holding)
        ])
      }
    } finally {
      await db.cleanup()
    }
  }
  printTable(['database', 'fill s', 'fill keys/s', 'open + decrypt p50 ms', 'p99 ms', 'target', 'MB on disk / account'], rows)
  console.log(
    `(a Signal session record here is ${t.sessionBytes} bytes; ${keysPer} keys: 40% pre-keys, then sessions, sender keys, LID mappings, device lists, identity keys)\n`
  )
  printTable(['database', 'cacheEntries', 'RSS MB / account after 1st message', 'after reading all keys', 'heap MB / account'], memRows)
}
