/** The IPC messages of a forked test child, kept in order, with a bounded wait for one of them. */
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'

/** What every child event has: the failure message lists the states (or types) seen, acks left out. */
interface ChildEventShape {
  type: string
  state?: string
}

/**
 * Records `child`'s messages (each also handed to `onEvent`). `waitFor` resolves with the first
 * event matching `pred`, also one that came before the call; after `timeoutMs` it fails, naming
 * `what` (after `label: `, when given) and the events seen.
 */
export function childEvents<E extends ChildEventShape>(child: ChildProcess, options: { timeoutMs: number; label?: string; onEvent?: (e: E) => void }) {
  const events: E[] = []
  child.on('message', msg => {
    events.push(msg as E)
    options.onEvent?.(msg as E)
  })
  const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
  const prefix = options.label === undefined ? '' : `${options.label}: `
  const waitFor = async (pred: (e: E) => boolean, what: string, timeoutMs = options.timeoutMs) => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const hit = events.find(pred)
      if (hit) return hit
      if (Date.now() > deadline)
        assert.fail(
          `${prefix}timed out waiting for ${what}; saw ${events
            .filter(e => e.type !== 'ack')
            .map(e => e.state ?? e.type)
            .join(',')}`
        )
      await new Promise(r => setTimeout(r, 20))
    }
  }
  return { events, exited, waitFor }
}
