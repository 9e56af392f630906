/**
 * Watches the key store Baileys uses, so a graceful stop can wait for in-flight key reads and
 * writes (a message being decrypted, a pre-key upload) before and after the socket ends.
 */
import type { VaultKeyStore } from '../auth/auth-state.js'

export class KeyActivity {
  private inflight = new Set<Promise<unknown>>()
  private lastActivity = 0

  constructor(private readonly now: () => number = Date.now) {}

  /** The key store to hand to Baileys: same behaviour, activity recorded. */
  watch(keys: VaultKeyStore, live: () => boolean = () => true): VaultKeyStore {
    const track = <T>(p: Promise<T>): Promise<T> => {
      this.inflight.add(p)
      this.lastActivity = this.now()
      const done = () => {
        this.inflight.delete(p)
        this.lastActivity = this.now()
      }
      p.then(done, done)
      return p
    }
    return {
      get: (type, ids) => track(keys.get(type, ids)),
      // A socket whose session was cleared (401, logout) must not write keys back into it.
      set: data => (live() ? track(keys.set(data)) : Promise.reject(new Error('the session was cleared; this socket may no longer write keys'))),
      clear: () => track(keys.clear()),
      listIds: type => keys.listIds(type),
      list: type => keys.list(type),
      allIds: type => keys.allIds(type)
    }
  }

  /** Resolves when nothing is in flight and nothing started for `quietMs`, or at `deadline`. */
  async settled(quietMs: number, deadline: number): Promise<void> {
    for (;;) {
      const now = this.now()
      if (now >= deadline) return
      if (this.inflight.size > 0) {
        await Promise.race([Promise.allSettled([...this.inflight]), sleep(Math.min(quietMs, deadline - now))])
        continue
      }
      const quietFor = now - this.lastActivity
      if (quietFor >= quietMs) return
      await sleep(Math.min(quietMs - quietFor, deadline - now))
    }
  }
}

const sleep = (ms: number) => new Promise<void>(resolve => setTimeout(resolve, Math.max(1, ms)))
