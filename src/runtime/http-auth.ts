/**
 * The control API's bearer token: compared in constant time (both sides hashed to the same
 * length first), and repeated failures from one address are refused for a while (429) so the
 * token cannot be guessed at network speed.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

export interface AuthLimitOptions {
  /** Wrong tokens from one address before it is refused. Default 10. */
  maxFailures?: number
  /** The window the failures are counted in, and how long a refused address waits. Default 60 s. */
  windowMs?: number
}

export type AuthResult = { ok: true } | { ok: false; status: 401 } | { ok: false; status: 429; retryAfterSec: number }

/** Tokens shorter than this are refused at startup: a short token is guessed despite the rate limit. */
export const MIN_TOKEN_LENGTH = 16

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest()

export function tokenGuard(token: string, options: AuthLimitOptions = {}, now: () => number = Date.now): (req: IncomingMessage) => AuthResult {
  const expected = digest(token)
  const maxFailures = options.maxFailures ?? 10
  const windowMs = options.windowMs ?? 60_000
  const failures = new Map<string, { count: number; since: number }>()

  return req => {
    const address = req.socket.remoteAddress ?? 'unknown'
    const t = now()
    let entry = failures.get(address)
    if (entry && t - entry.since >= windowMs) {
      failures.delete(address)
      entry = undefined
    }
    if (entry && entry.count >= maxFailures) return { ok: false, status: 429, retryAfterSec: Math.ceil((entry.since + windowMs - t) / 1000) }
    const header = req.headers.authorization ?? ''
    const given = /^Bearer (.+)$/.exec(header)?.[1] ?? ''
    if (timingSafeEqual(digest(given), expected)) return { ok: true }
    if (failures.size > 10_000) for (const [a, e] of failures) if (t - e.since >= windowMs) failures.delete(a)
    if (entry) entry.count++
    else failures.set(address, { count: 1, since: t })
    return { ok: false, status: 401 }
  }
}
