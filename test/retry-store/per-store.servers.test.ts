import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import Database from 'better-sqlite3'
import { proto } from '@whiskeysockets/baileys'
import { isVaultError } from '../../src/core/errors.js'
import { leaseOwner } from '../../src/drivers/shared-lease.js'
import { openStore } from '../../src/open-store.js'
import { MESSAGE_TYPE, RETRY_COUNT_TYPE } from '../../src/store/internal-types.js'
import { freshPostgres, freshRedis } from '../helpers/servers.js'
import { testEncryption } from '../helpers/encryption-keys.js'

/** The retry store on every store: survives a reopen, is out of Baileys' reach, fenced by the lease, sealed. */
const temps: string[] = []
const tempDir = (label: string) => {
  const dir = mkdtempSync(join(tmpdir(), `vault-msgs-${label}-`))
  temps.push(dir)
  return dir
}
after(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true })
})

const SECRET = 'the retry store secret text 7f3a'
const text = (m: proto.IMessage | undefined) => m?.conversation ?? m?.extendedTextMessage?.text

interface Target {
  name: string
  url: () => Promise<{ url: string; cleanup?: () => Promise<void> }>
}
const targets: Target[] = [
  { name: 'sqlite', url: async () => ({ url: `sqlite:${join(tempDir('sqlite'), 'store.db')}` }) },
  { name: 'file', url: async () => ({ url: `file:${tempDir('file')}` }) },
  { name: 'postgres', url: () => freshPostgres('msgs') },
  { name: 'redis', url: () => freshRedis('msgs') }
]

for (const target of targets) {
  describe(`retry store on ${target.name}`, () => {
    it('a recorded message is served again after the store is reopened (a restart), counters too; Baileys cannot name the types', async () => {
      const { url, cleanup } = await target.url()
      try {
        const a = await openStore(url)
        const messages = await a.useMessageStore('bot')
        await messages.recordMessage({ jid: '15550001@s.whatsapp.net', id: 'MSG1', message: { conversation: SECRET } })
        await messages.msgRetryCounterCache.set('MSG1:15550001@s.whatsapp.net', 2)
        const auth = await a.useAuthState('bot')
        await auth.saveCreds()
        for (const type of [MESSAGE_TYPE, RETRY_COUNT_TYPE]) {
          await assert.rejects(auth.state.keys.get(type as never, ['x']), (e: unknown) => isVaultError(e, 'INVALID_ARGUMENT'))
          await assert.rejects(auth.state.keys.set({ [type]: { x: { a: 1 } } } as never), (e: unknown) => isVaultError(e, 'INVALID_ARGUMENT'))
          await assert.rejects(auth.state.keys.allIds(type), (e: unknown) => isVaultError(e, 'INVALID_ARGUMENT'))
        }
        await auth.state.keys.clear()
        await a.close()

        const b = await openStore(url)
        const again = await b.useMessageStore('bot')
        assert.equal(text(await again.getMessage({ remoteJid: '15550001@s.whatsapp.net', id: 'MSG1', fromMe: true })), SECRET)
        assert.equal(await again.getMessage({ remoteJid: '15550001@s.whatsapp.net', id: 'NEVER', fromMe: true }), undefined)
        assert.equal(await again.msgRetryCounterCache.get('MSG1:15550001@s.whatsapp.net'), 2)
        assert.deepEqual(again.stats(), { size: 1, recorded: 0, served: 1, missed: { expired: 0, neverRecorded: 1 } })
        await b.close()
      } finally {
        await cleanup?.()
      }
    })

    it('a zombie whose lease was taken over cannot record or serve (LEASE_LOST); the new owner is unaffected', async () => {
      const { url, cleanup } = await target.url()
      try {
        const zombie = await openStore(url)
        const owner = await openStore(url)
        const oldLease = await zombie.acquireLease('bot', { owner: leaseOwner(), ttlMs: 30_000 })
        const old = await zombie.useMessageStore('bot', { lease: oldLease })
        await old.recordMessage({ jid: 'a@s.whatsapp.net', id: 'BEFORE', message: { conversation: SECRET } })
        await zombie.releaseLease(oldLease) // as if it expired while the process was stopped
        const lease = await owner.acquireLease('bot', { owner: leaseOwner(), ttlMs: 30_000 })
        const current = await owner.useMessageStore('bot', { lease })
        const lost = (e: unknown) => isVaultError(e, 'LEASE_LOST')
        await assert.rejects(old.recordMessage({ jid: 'a@s.whatsapp.net', id: 'ZOMBIE', message: { conversation: 'zombie' } }), lost)
        await assert.rejects(old.getMessage({ remoteJid: 'a@s.whatsapp.net', id: 'BEFORE', fromMe: true }), lost)
        await assert.rejects(Promise.resolve(old.msgRetryCounterCache.set('BEFORE:a', 1)), lost)
        assert.equal(text(await current.getMessage({ remoteJid: 'a@s.whatsapp.net', id: 'BEFORE', fromMe: true })), SECRET)
        assert.equal(await current.getMessage({ remoteJid: 'a@s.whatsapp.net', id: 'ZOMBIE', fromMe: true }), undefined)
        const ids: string[] = []
        for await (const [, id] of owner.listKeys('bot', MESSAGE_TYPE)) ids.push(id)
        assert.equal(ids.length, 1, 'nothing of the zombie landed')
        await zombie.close()
        await owner.close()
      } finally {
        await cleanup?.()
      }
    })
  })
}

/** The text as it would sit in a plain store: raw, or inside the base64 of its protobuf bytes. */
const inClear = (raw: Buffer) => {
  const b64 = Buffer.from(proto.Message.encode({ conversation: SECRET }).finish()).toString('base64')
  return raw.includes(SECRET) || raw.includes(b64.slice(4, 30))
}

describe('retry store: sealed at rest', () => {
  it('control: a plain file: store does hold the text (so the check below can fail)', async () => {
    const dir = tempDir('plain-file')
    const store = await openStore(`file:${dir}`)
    await (await store.useMessageStore('bot')).recordMessage({ jid: 'a@s.whatsapp.net', id: 'S1', message: { conversation: SECRET } })
    await store.close()
    const file = readdirSync(join(dir, 'bot')).find(f => f.startsWith('vault-message'))!
    assert.ok(inClear(readFileSync(join(dir, 'bot', file))))
  })

  it('an encrypted SQLite store holds no message text in clear (raw read), and the sealed value is bound to its location', async () => {
    const path = join(tempDir('sealed'), 'store.db')
    const encryption = testEncryption()
    const store = await openStore(`sqlite:${path}`, { encryption })
    const messages = await store.useMessageStore('bot')
    await messages.recordMessage({ jid: 'a@s.whatsapp.net', id: 'S1', message: { conversation: SECRET } })
    await store.close()
    const db = new Database(path, { readonly: true })
    const rows = db.prepare('SELECT * FROM vault_keys').all() as Array<Record<string, unknown>>
    db.close()
    assert.ok(rows.length > 0)
    const raw = Buffer.concat(rows.flatMap(r => Object.values(r).map(v => (Buffer.isBuffer(v) ? v : Buffer.from(String(v))))))
    assert.ok(!inClear(raw), 'no message text in clear')
    for (const f of readdirSync(join(path, '..'))) assert.ok(!inClear(readFileSync(join(path, '..', f))), `no text in ${f}`)
    const again = await openStore(`sqlite:${path}`, { encryption })
    assert.equal(text(await (await again.useMessageStore('bot')).getMessage({ remoteJid: 'a@s.whatsapp.net', id: 'S1', fromMe: true })), SECRET)
    await again.close()
  })

  it('an encrypted file: store holds no message text in any file', async () => {
    const dir = tempDir('sealed-file')
    const store = await openStore(`file:${dir}`, { encryption: testEncryption() })
    await (await store.useMessageStore('bot')).recordMessage({ jid: 'a@s.whatsapp.net', id: 'S1', message: { conversation: SECRET } })
    await store.close()
    const walk = (d: string): string[] => readdirSync(d).flatMap(f => (statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : [join(d, f)]))
    const files = walk(dir)
    assert.ok(
      files.some(f => f.includes('vault-message')),
      'the message is stored'
    )
    for (const f of files) assert.ok(!inClear(readFileSync(f)), f)
  })
})
