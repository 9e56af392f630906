import assert from 'node:assert/strict'
import type { AuthStore } from '../../src/auth/auth-store.js'

/** The per-session order check of group commit: 20 sessions x 30 writes, with creds saves between. */
export const MANY_WRITERS = { sessions: 20, writes: 30 }

const turn = () => new Promise(resolve => setImmediate(resolve))

/**
 * Fires every session's writes without waiting (as Baileys' events do), some across event-loop
 * turns: write n of session `w<s>` sets `write<n>.0` and `counter.0` to `{ n }`.
 */
export async function fireManyWriters(store: AuthStore): Promise<void> {
  await Promise.all(
    Array.from({ length: MANY_WRITERS.sessions }, async (_, s) => {
      const { state, saveCreds } = await store.useAuthState(`w${s}`)
      const pending: Promise<void>[] = []
      for (let n = 0; n < MANY_WRITERS.writes; n++) {
        pending.push(state.keys.set({ session: { 'counter.0': { n } as never, [`write${n}.0`]: { n } as never } }))
        if (n % 3 === s % 3) pending.push(saveCreds())
        if (n % 7 === 0) await turn()
      }
      await Promise.all(pending)
    })
  )
}

/** Each session's writes were applied in call order (`applied`: the n's of a session, in the backend's order), and its counter holds the last one. */
export async function assertEachSessionInOrder(applied: (session: string) => number[], counter: (session: string) => Promise<unknown>): Promise<void> {
  for (let s = 0; s < MANY_WRITERS.sessions; s++) {
    const session = `w${s}`
    assert.deepEqual(
      applied(session),
      Array.from({ length: MANY_WRITERS.writes }, (_, n) => n),
      `order of ${session}`
    )
    assert.deepEqual(await counter(session), { n: MANY_WRITERS.writes - 1 })
  }
}
