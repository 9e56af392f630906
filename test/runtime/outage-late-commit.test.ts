/**
 * A store outage in the middle of a send must not lose the send's Signal step. Baileys commits a
 * send's keys after the message left, and retries a failed commit (transactionOpts). The outage
 * ends the socket (store-outage.ts); that socket's retried commit must still land. Before this,
 * the runtime refused every key write of a socket it had ended, so the retry was refused: the
 * store never learned the step the delivered message took, and the bot's sendMessage rejected
 * although the contact had the message.
 *
 * Real makeWASocket against the simulator, real SQLite; the fault is injected in the driver
 * (helpers/faulty-driver.ts: the one write carrying the send's `session` key fails once, as a
 * database restart would). The contact's retry receipts are off, so a fork would stay visible.
 * Control: the same three messages with no fault. On the code before the fix the first test
 * fails ("rejected: the session was cleared; this socket may no longer write keys").
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import type { WASocket } from '../../src/core/baileys.js'
import { createSqliteDriver } from '../../src/drivers/sqlite.js'
import { openStore } from '../../src/open-store.js'
import { startSession } from '../../src/runtime/index.js'
import { instrument } from '../helpers/faulty-driver.js'
import { linkSessions } from '../helpers/link-sessions.js'
import { FAST_POLICY, recordStates, socketOptions } from '../helpers/runtime-suite.js'
import { eventually } from '../helpers/sim-lifecycle.js'
import { useSimulator } from '../helpers/use-simulator.js'

const WAIT_MS = 15_000

describe('a store outage while a send commits its keys', () => {
  const sim = useSimulator()
  let dir: string
  let jids: string[]

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vault-outage-late-commit-'))
    jids = await linkSessions({ url: `sqlite:${join(dir, 'vault.db')}`, ids: ['bot', 'control'], sim, socket: socketOptions(sim) })
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  /** The bot sends `one`, `two` (its key commit fails once when `outage`), `three` in a row to a contact of its own; what the contact read. */
  const threeInARow = async (sessionId: string, jid: string, contactPn: string, outage: boolean) => {
    const faulty = instrument(await createSqliteDriver({ path: join(dir, 'vault.db') }))
    const store = await openStore(faulty.driver)
    const session = await startSession({
      store,
      sessionId,
      // Baileys' retry of a failed commit, in test time (default: 10 tries 3 s apart).
      socket: { ...socketOptions(sim), transactionOpts: { maxCommitRetries: 10, delayBetweenTriesMs: 100 } },
      policy: FAST_POLICY,
      storeRetry: { initialMs: 20, maxMs: 100 },
      messages: false
    })
    const sockets: WASocket[] = []
    session.on('socket', sock => void sockets.push(sock))
    const rec = recordStates(session)
    try {
      await rec.until('connected')
      const contact = sim.contact(contactPn)
      contact.usesRetryReceipts = false
      // The contact writes first, so both sides hold the session before the bot's three messages.
      await contact.sendText('hello', { to: jid })
      await eventually(() => session.stats().messagesIn >= 1, 'the bot received hello', WAIT_MS)
      const send = (text: string) => sockets.at(-1)!.sendMessage(contact.jid, { text })

      await send('one')
      assert.equal((await contact.nextMessage(WAIT_MS)).text, 'one')
      const connectedBefore = rec.changes.filter(c => c.state === 'connected').length
      if (outage) faulty.failNextWriteWhere(batch => batch.set.some(([type]) => type === 'session'))
      // The message leaves before its keys commit; the commit fails once and Baileys retries it.
      const sentTwo = send('two').then(
        () => 'resolved',
        (err: Error) => `rejected: ${err.message}`
      )
      assert.equal((await contact.nextMessage(WAIT_MS)).text, 'two')
      if (outage) {
        // The failed write ended the socket as an outage; the session comes back on its own.
        await eventually(() => rec.changes.filter(c => c.state === 'connected').length > connectedBefore, 'connected again after the outage', WAIT_MS)
      }
      const two = await sentTwo
      await send('three')
      const third = await contact.nextMessage(WAIT_MS).catch((err: Error) => ({ text: `nothing: ${err.message}` }))
      return { two, third: third.text, decryptErrors: contact.decryptErrors.map(e => e.message), failedWrites: faulty.failed() }
    } finally {
      await session.stop()
      await store.close()
    }
  }

  test('the send whose commit failed in the outage still commits: the next message decrypts', { timeout: 60_000 }, async () => {
    const got = await threeInARow('bot', jids[0]!, '15550007071', true)
    assert.equal(got.failedWrites, 1, 'the fault was injected once')
    assert.deepEqual(got.decryptErrors, [], 'the contact decrypted every message')
    assert.equal(got.third, 'three')
    assert.equal(got.two, 'resolved', "the send of two resolved: its keys' commit landed on a retry")
  })

  test('control: the same three messages without a fault', { timeout: 60_000 }, async () => {
    const got = await threeInARow('control', jids[1]!, '15550007072', false)
    assert.equal(got.failedWrites, 0)
    assert.deepEqual(got.decryptErrors, [])
    assert.equal(got.third, 'three')
    assert.equal(got.two, 'resolved')
  })
})
