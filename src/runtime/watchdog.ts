/**
 * Keeps a "connected" session honest. A half-open TCP connection sends nothing and reports
 * nothing, so Baileys' socket can look open forever. The watchdog watches inbound frames: quiet
 * for half of `timeoutMs` → one ping (its pong is a frame); quiet for `timeoutMs` → the socket is
 * ended with 408 and the reconnect policy takes over. Optionally, no inbound *message* for
 * `silenceMs` → a ping that must be answered within `pingTimeoutMs`.
 */
import { invalidArgument } from '../core/errors.js'

export interface WatchdogOptions {
  /** No inbound frame (pongs included) for this long forces a reconnect. Default 60,000 ms; 0 turns the watchdog off. */
  timeoutMs?: number
  /** No inbound message for this long sends a ping. Default off (0). */
  silenceMs?: number
  /** A silence ping unanswered this long forces a reconnect. Default 10,000 ms. */
  pingTimeoutMs?: number
}

/** What the watchdog needs of a socket: frame and message notifications, a ping, an end. */
export interface WatchedSocket {
  onFrame(listener: () => void): void
  onMessage(listener: () => void): void
  ping(timeoutMs: number): Promise<void>
  kill(message: string): void
}

export function resolveWatchdog(options: WatchdogOptions = {}): Required<WatchdogOptions> {
  if (typeof options !== 'object' || options === null) throw invalidArgument('watchdog must be an object.')
  const out = { timeoutMs: options.timeoutMs ?? 60_000, silenceMs: options.silenceMs ?? 0, pingTimeoutMs: options.pingTimeoutMs ?? 10_000 }
  for (const [name, v] of Object.entries(out)) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
      throw invalidArgument(`watchdog.${name} must be a non-negative number of milliseconds; got ${String(v)}.`)
  }
  if (out.timeoutMs > 0 && out.timeoutMs < 100) throw invalidArgument('watchdog.timeoutMs must be at least 100 ms (or 0 to turn it off).')
  return out
}

export class Watchdog {
  private lastFrame = Date.now()
  private lastMessage = Date.now()
  private timer?: NodeJS.Timeout
  private framePing = false
  private silencePing = false
  private stopped = false

  constructor(
    private readonly options: Required<WatchdogOptions>,
    private readonly socket: WatchedSocket,
    /** Called once, just before the socket is killed. */
    private readonly onKill: (message: string) => void
  ) {}

  start(): void {
    const { timeoutMs, silenceMs } = this.options
    if (timeoutMs === 0 && silenceMs === 0) return
    this.lastFrame = this.lastMessage = Date.now()
    this.socket.onFrame(() => {
      this.lastFrame = Date.now()
      this.framePing = false
    })
    this.socket.onMessage(() => (this.lastMessage = Date.now()))
    const periods = [timeoutMs, silenceMs].filter(p => p > 0)
    const every = Math.max(25, Math.min(...periods) / 4)
    this.timer = setInterval(() => this.check(), every)
    this.timer.unref?.()
  }

  stop(): void {
    this.stopped = true
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
  }

  private check(): void {
    if (this.stopped) return
    const { timeoutMs, silenceMs, pingTimeoutMs } = this.options
    const now = Date.now()
    const quiet = now - this.lastFrame
    if (timeoutMs > 0 && quiet >= timeoutMs) return this.kill(`watchdog: no frame from the server for ${quiet} ms`)
    if (timeoutMs > 0 && quiet >= timeoutMs / 2 && !this.framePing) {
      this.framePing = true
      // The answer (or its absence) shows in lastFrame; a failed ping itself proves nothing.
      this.socket.ping(timeoutMs).catch(() => undefined)
    }
    if (silenceMs > 0 && now - this.lastMessage >= silenceMs && !this.silencePing) {
      this.silencePing = true
      this.socket.ping(pingTimeoutMs).then(
        () => {
          this.silencePing = false
          this.lastMessage = Date.now()
        },
        () => {
          if (!this.stopped) this.kill(`watchdog: no message for ${silenceMs} ms and the ping went unanswered for ${pingTimeoutMs} ms`)
        }
      )
    }
  }

  private kill(message: string): void {
    this.stop()
    this.onKill(message)
    this.socket.kill(message)
  }
}
