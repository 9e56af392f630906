/**
 * Baileys 7.0.0-rc14 makes one AsyncLocalStorage per socket (addTransactionCapability) and never
 * disables it. On Node 20 an AsyncLocalStorage that ran once stays in a process-wide list until
 * disabled (it is never collected), and every promise made afterwards gets a slot per entry. So
 * a process that reconnects N times makes every later promise N slots bigger and slower
 * (measured: 500 of them make 100,000 promises take 77 s and 2.4 GB instead of 0.8 s and 27 MB).
 *
 * `recordStorages` notes the storages a synchronous makeWASocket call constructs (the class is
 * swapped for that call only, through module.syncBuiltinESMExports, the documented way to change
 * what `import { AsyncLocalStorage } from 'async_hooks'` sees); `releaseWhenIdle` disables them
 * once the socket closed and none of its transactions runs.
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

/** The part of a socket's key store that runs transactions (Baileys' addTransactionCapability). */
export interface TransactionKeys {
  transaction: <T>(work: () => Promise<T>, key: string) => Promise<T>
}

/**
 * Disables a socket's `storages` once it closed and no key transaction of it runs (each one runs
 * inside them), so a process that reconnects often (a database or server restarting every few
 * seconds) does not keep hundreds enabled: a fixed grace kept every socket closed in the last
 * two query timeouts, and each of their storages made every promise bigger. A transaction a late
 * handler starts on the closed socket enables its storage again; its end disables it again.
 * Disabling earlier would take the transaction context from one still running, whose writes
 * would then bypass its commit. `graceMs` still bounds the wait (a transaction hung that long).
 * Call it right after makeWASocket; `closed()` when the socket closed.
 */
export function releaseWhenIdle(keys: TransactionKeys, storages: Array<AsyncLocalStorage<unknown>>, graceMs: number): { closed(): void } {
  let running = 0
  let closed = false
  const disable = () => storages.forEach(s => s.disable())
  const transaction = keys.transaction
  keys.transaction = <T>(work: () => Promise<T>, key: string): Promise<T> => {
    running++
    const settled = () => {
      if (--running === 0 && closed) disable()
    }
    const result = transaction.call(keys, work, key) as Promise<T>
    result.then(settled, settled)
    return result
  }
  return {
    closed() {
      if (closed || storages.length === 0) return
      closed = true
      if (running === 0) return disable()
      setTimeout(disable, graceMs).unref()
    }
  }
}
