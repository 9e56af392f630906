/**
 * A session's view of its store's health: an outage (PostgreSQL or Redis stopped, a `file:`
 * folder that cannot be written) is never a reason to give up. The session ends its socket (its
 * writes cannot land, so nothing it receives could be kept), reports the problem once, and tries
 * again with a capped, jittered exponential backoff for as long as the process runs. A write
 * that commits again ends the problem (/readyz is 503 until then).
 */
import { VaultError, invalidArgument } from '../core/errors.js'

export interface StoreRetryOptions {
  /** First retry after this long (ms). Default 1,000. */
  initialMs?: number
  /** Retries never wait longer than this (ms), however long the outage. Default 30,000. */
  maxMs?: number
}

export const DEFAULT_STORE_RETRY_MS = 1_000
export const DEFAULT_STORE_RETRY_MAX_MS = 30_000

export function checkStoreRetry(retry: unknown): void {
  if (retry === undefined) return
  if (typeof retry !== 'object' || retry === null || Array.isArray(retry)) throw invalidArgument('storeRetry must be an object: { initialMs?, maxMs? }.')
  const { initialMs, maxMs } = retry as StoreRetryOptions
  for (const [name, value] of [
    ['initialMs', initialMs],
    ['maxMs', maxMs]
  ] as const) {
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value < 1))
      throw invalidArgument(`storeRetry.${name} must be a number of milliseconds of at least 1; got ${String(value)}.`)
  }
  if (initialMs !== undefined && maxMs !== undefined && initialMs > maxMs) throw invalidArgument('storeRetry.initialMs must not exceed storeRetry.maxMs.')
}

/** An error that means the store could not be reached or written (retrying later can help). */
export const isStoreUnavailable = (err: unknown): boolean => err instanceof VaultError && err.code === 'BACKEND_UNAVAILABLE'

export interface StoreProblem {
  code: string
  /** Epoch ms of the first failure of this problem. */
  since: number
}

export class StoreOutage {
  private readonly initialMs: number
  private readonly maxMs: number
  private problemSince?: number
  private problemCode?: string
  private retries = 0
  /** Failures reported so far (a connect attempt compares it before and after its awaits). */
  failures = 0

  constructor(
    options: StoreRetryOptions = {},
    private readonly random: () => number = Math.random
  ) {
    this.maxMs = options.maxMs ?? DEFAULT_STORE_RETRY_MAX_MS
    this.initialMs = Math.min(options.initialMs ?? DEFAULT_STORE_RETRY_MS, this.maxMs)
  }

  /** Records a failure; true when it starts a new problem (report it once, not per retry). */
  failed(err: VaultError): boolean {
    this.failures++
    const first = this.problemSince === undefined
    if (first) {
      this.problemSince = Date.now()
      this.problemCode = err.code
    }
    return first
  }

  /** A write committed: the store works again. True when that ended a problem. */
  recovered(): boolean {
    if (this.problemSince === undefined) return false
    this.problemSince = this.problemCode = undefined
    return true
  }

  /** The connection opened: the next outage starts its backoff from the beginning. */
  connected(): void {
    this.retries = 0
  }

  get problem(): StoreProblem | undefined {
    return this.problemSince === undefined ? undefined : { code: this.problemCode!, since: this.problemSince }
  }

  get attempt(): number {
    return this.retries
  }

  /** The wait before the next retry: doubling from initialMs, capped at maxMs, then 50-100% of that (jitter, so sessions do not retry in step). */
  nextDelayMs(): number {
    const exponential = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.retries, 30))
    this.retries++
    return Math.max(1, Math.round(exponential * (0.5 + this.random() / 2)))
  }
}

/**
 * Calls `attempt` until it does not fail with BACKEND_UNAVAILABLE, waiting between tries with
 * the same backoff (for what runs before a session can retry by itself: `run` starting its
 * sessions while the store restarts). Any other error is thrown at once.
 */
export async function retryWhileUnavailable<T>(
  attempt: () => Promise<T>,
  options: { retry?: StoreRetryOptions; onRetry?: (err: VaultError, delayMs: number) => void } = {}
): Promise<T> {
  const outage = new StoreOutage(options.retry)
  for (;;) {
    try {
      return await attempt()
    } catch (err) {
      if (!isStoreUnavailable(err)) throw err
      const delayMs = outage.nextDelayMs()
      options.onRetry?.(err as VaultError, delayMs)
      await new Promise(resolve => setTimeout(resolve, delayMs))
    }
  }
}
