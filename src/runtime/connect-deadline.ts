/**
 * The runtime's own bound on a connection attempt. Baileys' connectTimeoutMs does not end every
 * stuck handshake: when the server answers the WebSocket upgrade with a plain HTTP response (a
 * 503 from a server that is shutting down or starting), `ws` hands it to the 'unexpected-response'
 * listener Baileys registers and ignores, the handshake timer goes with the closed TCP socket,
 * and the socket stays CONNECTING forever with no close. So an attempt that has neither opened,
 * shown a QR nor closed within the deadline is ended by the session as a 408, and the close-code
 * policy reconnects with its backoff.
 */
import { invalidArgument } from '../core/errors.js'

/** Baileys' default connectTimeoutMs (when the socket options leave it out). */
const BAILEYS_CONNECT_TIMEOUT_MS = 20_000
/** Room above connectTimeoutMs, so Baileys' own timeout ends what it can first. */
const ABOVE_BAILEYS_MS = 25_000

/** Checks `connectDeadlineMs` (0 turns the deadline off); bad input is INVALID_ARGUMENT. */
export function checkConnectDeadline(value: unknown): void {
  if (value === undefined) return
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw invalidArgument(`connectDeadlineMs must be a non-negative number of milliseconds (0 turns it off); got ${String(value)}.`)
}

/** The deadline in ms (0: off): the option, else 25 s above the socket's connectTimeoutMs (45 s with Baileys' default). */
export function resolveConnectDeadline(options: { connectDeadlineMs?: number; connectTimeoutMs?: number }): number {
  return options.connectDeadlineMs ?? (options.connectTimeoutMs ?? BAILEYS_CONNECT_TIMEOUT_MS) + ABOVE_BAILEYS_MS
}
