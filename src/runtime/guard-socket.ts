/**
 * Handlers users register on `sock.ev` run inside Baileys' event processing: one that throws
 * (or rejects) would break it. After the runtime's own handlers are in place, `sock.ev.on` and
 * `sock.ev.process` are wrapped so a failing user handler is reported and counted instead.
 */
import type { WASocket } from '../core/baileys.js'

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- wraps Baileys' listeners of every event type
type AnyListener = (...args: any[]) => unknown

export function guardSocketHandlers(sock: WASocket, onError: (where: string, err: unknown) => void): void {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- on/off are overloaded per event; the wrapper is generic
  const ev = sock.ev as any
  const wrapped = new WeakMap<AnyListener, AnyListener>()
  const guard = (where: string, listener: AnyListener): AnyListener => {
    let g = wrapped.get(listener)
    if (!g) {
      g = (...args: unknown[]) => {
        try {
          const result = listener(...args)
          if (result && typeof (result as Promise<unknown>).then === 'function') (result as Promise<unknown>).catch(err => onError(where, err))
        } catch (err) {
          onError(where, err)
        }
      }
      wrapped.set(listener, g)
    }
    return g
  }
  const on = ev.on.bind(ev)
  const off = ev.off.bind(ev)
  const process = ev.process.bind(ev)
  ev.on = (event: string, listener: AnyListener) => on(event, guard(`sock.ev '${event}' handler`, listener))
  ev.off = (event: string, listener: AnyListener) => off(event, wrapped.get(listener) ?? listener)
  ev.process = (handler: AnyListener) => process(guard('sock.ev.process handler', handler))
}
