/**
 * SIGTERM/SIGINT → graceful stop. A second signal while stopping forces the exit (code 130),
 * for an operator who does not want to wait for the deadline.
 */
import type { RuntimeLogger } from './logger.js'

export interface SignalOptions {
  /** Exit the process after the graceful stop (code `process.exitCode ?? 0`). Default true. */
  exit?: boolean
}

export function handleSignals(stop: () => Promise<void>, logger: RuntimeLogger, options: SignalOptions = {}): () => void {
  let stopping = false
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting without waiting for the graceful stop')
      process.exit(130)
    }
    stopping = true
    logger.info({ signal }, 'signal: stopping gracefully (a second signal forces the exit)')
    stop().then(
      () => {
        if (options.exit !== false) process.exit(process.exitCode ?? 0)
      },
      err => {
        logger.error({ err: (err as Error)?.message }, 'graceful stop failed')
        if (options.exit !== false) process.exit(1)
      }
    )
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  return () => {
    process.off('SIGTERM', onSignal)
    process.off('SIGINT', onSignal)
  }
}
