/**
 * Opening the retry store while the store cannot be read fails, and the next open loads again.
 * Found by the full soak: a PostgreSQL restart during one session's open left the failed load
 * cached for its lease epoch, and every reconnect of that session (811 in 22 minutes) failed
 * on the same rejection while the store was fine. Real PostgreSQL; the keys table is renamed
 * away for the first open. Control: the code before the fix rejects the second open with the
 * first open's error.
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import pg from 'pg'
import { openStore } from '../../src/open-store.js'
import { freshPostgres } from '../helpers/servers.js'

const cleanups: Array<() => Promise<void>> = []
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

test('a retry store whose load failed loads again on the next open (same lease epoch)', async () => {
  const target = await freshPostgres('retry-load')
  cleanups.push(target.cleanup)
  const store = await openStore(target.url)
  const admin = new pg.Client({ connectionString: target.url })
  await admin.connect()
  try {
    const lease = await store.acquireLease('s', { owner: 'bot', ttlMs: 60_000 })
    const first = await store.useMessageStore('s', { lease })
    await first.recordMessage({ jid: '15550001111@s.whatsapp.net', id: 'KEPT', message: { conversation: 'x' } })
    await store.close()

    const again = await openStore(target.url)
    try {
      await admin.query('ALTER TABLE vault_keys RENAME TO vault_keys_away')
      await assert.rejects(again.useMessageStore('s', { lease }), 'the store cannot be read: the open fails')
      await admin.query('ALTER TABLE vault_keys_away RENAME TO vault_keys')
      const reopened = await again.useMessageStore('s', { lease })
      assert.ok(await reopened.getMessage({ remoteJid: '15550001111@s.whatsapp.net', id: 'KEPT' }), 'loaded, and what was recorded is served')
    } finally {
      await again.close()
    }
  } finally {
    await admin.end()
  }
})
