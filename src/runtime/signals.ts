/**
 * SIGTERM/SIGINT → graceful stop. A second signal while stopping forces the exit (code 130),
 * for an operator who does not want to wait for the deadline; the same signal repeated within a
 * second is one delivery seen twice (npx) and is ignored.
 */
import type { RuntimeLogger } from './logger.js'

export interface SignalOptions {
  /** Exit the process after the graceful stop (code `process.exitCode ?? 0`). Default true. */
  exit?: boolean
}

/**
 * The same signal again within a second is one Ctrl-C delivered twice, not an operator's second
 * signal: under `npx`/`npm exec` the terminal sends SIGINT to the whole process group and npm
 * forwards its own copy to the child, so a graceful stop would end in a forced exit 130.
 */
const REPEAT_MS = 1_000
export const isRepeatDelivery = (first: { signal: NodeJS.Signals; at: number }, signal: NodeJS.Signals, now = Date.now()): boolean =>
  signal !== undefined && signal === first.signal && now - first.at < REPEAT_MS

export interface StopSignalHandlers {
  /** Starts the graceful stop; called once, on the first SIGTERM or SIGINT. */
  stop(signal: NodeJS.Signals): void
  /** Told just before a second signal forces exit 130. */
  forced?(signal: NodeJS.Signals): void
}

/** The one SIGTERM/SIGINT handler of the package (startSession and `run`): returns its uninstall. */
export function onStopSignals({ stop, forced }: StopSignalHandlers): () => void {
  let first: { signal: NodeJS.Signals; at: number } | undefined
  const onSignal = (signal: NodeJS.Signals) => {
    if (first) {
      if (isRepeatDelivery(first, signal)) return
      forced?.(signal)
      process.exit(130)
    }
    first = { signal, at: Date.now() }
    stop(signal)
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  return () => {
    process.off('SIGTERM', onSignal)
    process.off('SIGINT', onSignal)
  }
}

/** startSession's signals option: log, stop, then exit (unless `exit: false`). */
export function handleSignals(stop: () => Promise<void>, logger: RuntimeLogger, options: SignalOptions = {}): () => void {
  return onStopSignals({
    forced: signal => logger.warn({ signal }, 'second signal: exiting without waiting for the graceful stop'),
    stop: signal => {
      logger.info({ signal }, 'signal: stopping gracefully (a second signal forces the exit)')
      stop().then(
        () => {
          if (options.exit !== false) process.exit(process.exitCode ?? 0)
        },
        err => {
          logger.error({ err }, 'graceful stop failed')
          if (options.exit !== false) process.exit(1)
        }
      )
    }
  })
}
