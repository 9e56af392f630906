import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import Database from 'better-sqlite3'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openStore, type OpenStoreOptions } from '../../src/open-store.js'
import { VaultError } from '../../src/core/errors.js'
import { copyFixture, importBaileysFolder } from '../helpers/fixture.js'
import { testEncryption } from '../helpers/encryption-keys.js'

/** Deterministic PRNG so a failure can be replayed from the seed in the test name. */
function prng(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed / 0x7fffffff
  }
}

type Mutation = (value: Buffer, rand: () => number) => Buffer
const MUTATIONS = {
  truncate: (v, r) => v.subarray(0, Math.floor(r() * v.length)),
  flipBit: (v, r) => {
    const c = Buffer.from(v)
    if (c.length) {
      const at = Math.floor(r() * c.length)
      c.writeUInt8(c.readUInt8(at) ^ (1 << Math.floor(r() * 8)), at)
    }
    return c
  },
  randomBytes: (v, r) => Buffer.from(Array.from({ length: 1 + Math.floor(r() * 64) }, () => Math.floor(r() * 256))),
  wrongJsonType: (_v, r) => Buffer.from(`\u0001${JSON.stringify([null, 42, 'text', [1, 2], { type: 'Buffer', data: 7 }, true][Math.floor(r() * 6)])}`),
  empty: () => Buffer.alloc(0),
  futureFormat: v => Buffer.concat([Buffer.from([0x1f]), v])
} satisfies Record<string, Mutation>

/**
 * Mutates stored values at random and reads them back through the public API: every read
 * must give a value or a VaultError, never a crash, a foreign exception, or a silent fresh device.
 */
for (const [label, options] of [
  ['plain', {}],
  ['encrypted', { encryption: testEncryption() }]
] as Array<[string, OpenStoreOptions]>) {
  describe(`fuzz: damaged stored values (${label})`, () => {
    it('every read of a damaged value gives the value or a VaultError', async () => {
      const path = join(mkdtempSync(join(tmpdir(), 'vault-fuzz-')), 'store.db')
      const seeded = await openStore(`sqlite:${path}`, options)
      await importBaileysFolder(seeded, copyFixture('alice'), 'alice')
      await seeded.close()
      const db = new Database(path)
      const rows = db.prepare(`SELECT type, id, value FROM vault_keys WHERE session = 'alice'`).all() as Array<{ type: string; id: string; value: Buffer }>
      const credsRow = db.prepare(`SELECT value FROM vault_creds WHERE session = 'alice'`).pluck().get() as Buffer
      const rand = prng(label === 'plain' ? 1234 : 5678)
      const outcomes = { value: 0, vaultError: 0 }
      const names = Object.keys(MUTATIONS) as Array<keyof typeof MUTATIONS>

      for (let round = 0; round < 200; round++) {
        const mutation = names[round % names.length]
        const row = rows[Math.floor(rand() * rows.length)]
        assert.ok(mutation && row)
        const damaged = MUTATIONS[mutation](row.value, rand)
        db.prepare('UPDATE vault_keys SET value = ? WHERE session = ? AND type = ? AND id = ?').run(damaged, 'alice', row.type, row.id)
        const store = await openStore(`sqlite:${path}`, options)
        try {
          const { state } = await store.useAuthState('alice')
          const got = await state.keys.get(row.type as any, [row.id])
          assert.ok(row.id in got || Object.keys(got).length === 0)
          outcomes.value++
        } catch (err) {
          assert.ok(err instanceof VaultError, `${mutation} on ${row.type}/${row.id} threw ${String(err)}`)
          assert.ok(['CORRUPT_DATA', 'DECRYPT_FAILED', 'UNSUPPORTED_FORMAT'].includes(err.code), err.code)
          assert.ok(err.message.includes('alice'), 'the message names the session')
          outcomes.vaultError++
        } finally {
          await store.close()
        }
        db.prepare('UPDATE vault_keys SET value = ? WHERE session = ? AND type = ? AND id = ?').run(row.value, 'alice', row.type, row.id)
      }

      // Damaged creds never become a fresh device. (A flipped bit inside plaintext JSON can stay
      // valid JSON; only sealed values carry an integrity tag, so flipBit is checked encrypted.)
      for (const mutation of names.filter(m => label === 'encrypted' || m !== 'flipBit')) {
        db.prepare(`UPDATE vault_creds SET value = ? WHERE session = 'alice'`).run(MUTATIONS[mutation](credsRow, rand))
        const store = await openStore(`sqlite:${path}`, options)
        await assert.rejects(store.useAuthState('alice'), (e: unknown) => e instanceof VaultError && e.code !== 'INVALID_ARGUMENT', mutation)
        await store.close()
      }
      db.close()
      assert.ok(outcomes.vaultError > 50, `most damage is detected (${JSON.stringify(outcomes)})`)
    })
  })
}
