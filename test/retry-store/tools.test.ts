/**
 * The tools and the retry store, as the README promises (issue 21): `backup` leaves the kept
 * messages out unless asked (includeMessages), a restore of that backup serves them; `migrate`
 * carries them; `prune` with `messages` drops them and their resend counters; `drop` removes
 * them with the session. SQLite stores in a temp folder, the tools called as the CLI calls them.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, it } from 'node:test'
import { openStore } from '../../src/open-store.js'
import type { AuthStore } from '../../src/auth/auth-store.js'
import { MESSAGE_TYPE, RETRY_COUNT_TYPE } from '../../src/store/internal-types.js'
import { backup } from '../../src/tools/backup.js'
import { dropSession } from '../../src/tools/drop.js'
import { migrate } from '../../src/tools/migrate.js'
import { prune } from '../../src/tools/prune.js'
import { restore } from '../../src/tools/restore.js'

const dir = mkdtempSync(join(tmpdir(), 'vault-msgs-tools-'))
after(() => rmSync(dir, { recursive: true, force: true }))

const JID = '15550007070@s.whatsapp.net'
const KEY = { remoteJid: JID, id: 'KEPT1', fromMe: true }
const TEXT = 'kept for a retry'

async function count(store: AuthStore, type: string): Promise<number> {
  let n = 0
  for await (const _ of store.listKeys('bot', type)) n++
  return n
}

it('backup leaves the retry store out unless includeMessages; migrate carries it; prune with messages and drop remove it', async () => {
  const source = await openStore(`sqlite:${join(dir, 'source.db')}`)
  const auth = await source.useAuthState('bot')
  await auth.saveCreds()
  const messages = await source.useMessageStore('bot')
  await messages.recordMessage({ jid: JID, id: KEY.id, message: { conversation: TEXT } })
  await messages.msgRetryCounterCache.set(`${KEY.id}:${JID}`, 1)

  // backup, then restore into a new store: the messages only when asked for.
  for (const includeMessages of [false, true]) {
    const file = join(dir, `bot-${includeMessages}.backup`)
    await backup(source, file, { plaintext: true, includeMessages })
    const target = await openStore(`sqlite:${join(dir, `restored-${includeMessages}.db`)}`)
    await restore(file, target)
    assert.equal(await count(target, MESSAGE_TYPE), includeMessages ? 1 : 0, `messages restored with includeMessages=${includeMessages}`)
    assert.equal(await count(target, RETRY_COUNT_TYPE), includeMessages ? 1 : 0, `resend counters restored with includeMessages=${includeMessages}`)
    const served = await (await target.useMessageStore('bot')).getMessage(KEY)
    assert.equal(served?.conversation, includeMessages ? TEXT : undefined)
    await target.close()
  }

  // migrate: carried and served by the target.
  const migrated = await openStore(`sqlite:${join(dir, 'migrated.db')}`)
  await migrate(source, migrated)
  assert.equal((await (await migrated.useMessageStore('bot')).getMessage(KEY))?.conversation, TEXT)
  await migrated.close()

  // prune with messages: both types gone, the keys' creds kept.
  const pruned = await prune(source, 'bot', { messages: true })
  assert.equal(pruned.removed.messages, 1)
  assert.deepEqual([await count(source, MESSAGE_TYPE), await count(source, RETRY_COUNT_TYPE)], [0, 0])
  assert.ok(await source.readRawCreds('bot'), 'prune kept the creds')

  // drop: the session and its retry store go together.
  await messages.recordMessage({ jid: JID, id: 'KEPT2', message: { conversation: TEXT } })
  assert.equal(await count(source, MESSAGE_TYPE), 1)
  const dropped = await dropSession(source, 'bot')
  assert.equal(dropped.counts[MESSAGE_TYPE], 1, 'drop counts the kept message it removed')
  assert.equal(await count(source, MESSAGE_TYPE), 0)
  await source.close()
})
