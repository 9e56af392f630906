import { AsyncLocalStorage } from 'node:async_hooks'

/**
 * Baileys makes one AsyncLocalStorage per key store (addTransactionCapability) and never
 * disables it; Node 20 copies every enabled storage onto each new promise and timer. In one
 * bench process the accounts of every earlier target and round would pile up, and each target
 * would run slower than the one before it (the plain Map alone, 4 times in a row: 106, 66, 27,
 * 25 msg/s). So storages are recorded when first used, and disabled once the run that made them
 * is over (`releaseAsyncStorages`, called by `interleaved` after each target's round).
 */
const used = new Set<AsyncLocalStorage<unknown>>()
const run = AsyncLocalStorage.prototype.run

AsyncLocalStorage.prototype.run = function <R>(this: AsyncLocalStorage<unknown>, store: unknown, callback: (...args: unknown[]) => R, ...args: unknown[]): R {
  used.add(this)
  return run.call(this, store, callback, ...args) as R
}

/** Disables every storage used since the last call: the accounts that used them are done. */
export function releaseAsyncStorages(): void {
  for (const storage of used) storage.disable()
  used.clear()
}
