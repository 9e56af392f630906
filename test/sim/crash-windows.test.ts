/**
 * The simulator's SIGKILL scenario made deterministic (helpers/sim-crash-run.ts), on SQLite with
 * the shared flush (the default) and with synchronous=FULL.
 *
 * What forked the Signal session in test 4 (the contact failing with Bad MAC on the restarted
 * bot's replies) is not a crash window of the store: after a restart, Baileys opens a new outgoing
 * session for its first reply (a pkmsg). A message the contact sent on the old session before it
 * saw that reply is then decrypted by libsignal's trial decryption, which steps the ratchet of the
 * new (open) session before its MAC check fails, then succeeds on the old one and stores the
 * record with the open session corrupted. Every reply after that is a Bad MAC for the contact, on
 * any store. A phone answers a Bad MAC with a retry receipt and Baileys resends on a fresh session;
 * the simulator's contact now does the same, and the conversation recovers.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { OpenStoreOptions } from '../../src/open-store.js'
import { crashRun } from '../helpers/sim-crash-run.js'

const MODES: Array<[string, OpenStoreOptions]> = [
  ['shared flush (default)', {}],
  ['synchronous=FULL', { sqlite: { groupCommit: false } }]
]

/**
 * The bots keep what they send in the retry store, so after the restart every message the killed
 * bot sent is served again when the contact asks (issue 21). VAULT_SWEEP_WITHOUT_MESSAGE_STORE=1
 * measures the "before" figure (nothing asserted on it).
 */
const MESSAGE_STORE = process.env.VAULT_SWEEP_WITHOUT_MESSAGE_STORE !== '1'

/** Kill points of the first bot in the traffic scenario (see sim-child-faults.ts). */
const KILL_POINTS = ['commit:4', 'commit:7', 'send:2', 'send:3']

for (const [mode, storeOptions] of MODES) {
  describe(`simulator, SQLite ${mode}: crash windows`, () => {
    test('a reply on a new session crossing a message on the old one forks the session (without retry receipts)', { timeout: 60_000 }, async () => {
      const run = await crashRun({ storeOptions, scenario: 'crossing', retryReceipts: false })
      assert.equal(run.recovered, false, 'the contact decrypted the echo although the session forked')
      assert.ok(run.contactErrors.includes('Bad MAC'), `errors: ${run.contactErrors.join(', ')}`)
    })

    test('after that fork, the retry receipts a phone sends make the conversation recover', { timeout: 60_000 }, async () => {
      const run = await crashRun({ storeOptions, scenario: 'crossing' })
      assert.ok(run.retriesSent >= 1, 'the contact asked for the undecryptable reply again')
      assert.equal(run.recovered, true, `not recovered; bot trace:\n${run.trace.join('\n')}`)
    })

    test(
      `killed right after a commit landed (before its flush) or right after a reply left (before its commit): ${KILL_POINTS.join(', ')}`,
      { timeout: 400_000 },
      async t => {
        let sent = 0
        let served = 0
        let undecryptable = 0
        for (const kill of KILL_POINTS) {
          const run = await crashRun({ storeOptions, kill, messageStore: MESSAGE_STORE })
          assert.equal(run.injected, true, `${kill}: the kill point never came`)
          assert.equal(run.recovered, true, `${kill}: not recovered; contact errors: ${run.contactErrors.join(', ')}; bot trace:\n${run.trace.join('\n')}`)
          sent += run.firstBotSent.length
          served += run.servedAgain.length
          undecryptable += run.resentUndecryptable.length
          t.diagnostic(
            `${kill}: ${run.firstBotSent.length} sent by the killed bot; after the restart ${run.servedAgain.length} served again and decrypted, ${run.resentUndecryptable.length} served again but not decryptable by the contact`
          )
          if (MESSAGE_STORE)
            assert.deepEqual(
              [...run.servedAgain, ...run.resentUndecryptable].sort(),
              run.firstBotSent.sort(),
              `${kill}: every message the killed bot sent is sent again when asked`
            )
        }
        const lost = sent - served - undecryptable
        t.diagnostic(
          `${mode}: ${sent} sent before the kills; ${served} served again and decrypted, ${undecryptable} served again but undecryptable, ${lost} lost${MESSAGE_STORE ? '' : ' (without the retry store)'}`
        )
      }
    )
  })
}
