/**
 * Baileys 7.0.0-rc14 makes one AsyncLocalStorage per socket (addTransactionCapability) and never
 * disables it. On Node 20 an AsyncLocalStorage that ran once stays in a process-wide list until
 * disabled (it is never collected), and every promise made afterwards gets a slot per entry. So
 * a process that reconnects N times makes every later promise N slots bigger and slower
 * (measured: 500 of them make 100,000 promises take 77 s and 2.4 GB instead of 0.8 s and 27 MB).
 *
 * `recordStorages` notes the storages a synchronous makeWASocket call constructs (the class is
 * swapped for that call only, through module.syncBuiltinESMExports, the documented way to change
 * what `import { AsyncLocalStorage } from 'async_hooks'` sees); `releaseStorages` disables them
 * once the socket's transactions can no longer be running.
 */
import asyncHooks, { type AsyncLocalStorage } from 'node:async_hooks'
import { syncBuiltinESMExports } from 'node:module'

/** Calls `make` and returns its result with the AsyncLocalStorages constructed during the call. */
export function recordStorages<T>(make: () => T): { value: T; storages: Array<AsyncLocalStorage<unknown>> } {
  const Original = asyncHooks.AsyncLocalStorage
  const storages: Array<AsyncLocalStorage<unknown>> = []
  asyncHooks.AsyncLocalStorage = class Recorded<S> extends Original<S> {
    constructor() {
      super()
      storages.push(this as AsyncLocalStorage<unknown>)
    }
  }
  syncBuiltinESMExports()
  try {
    return { value: make(), storages }
  } finally {
    asyncHooks.AsyncLocalStorage = Original
    syncBuiltinESMExports()
  }
}

/**
 * Disables `storages` after `graceMs` (a timer that does not hold the process open). Called when
 * the socket closed: disabling earlier would take the transaction context from one still
 * running, whose writes would then bypass its commit.
 */
export function releaseStorages(storages: Array<AsyncLocalStorage<unknown>>, graceMs: number): void {
  if (storages.length === 0) return
  setTimeout(() => storages.forEach(s => s.disable()), graceMs).unref()
}
