/**
 * Progress reports of long-running tools. `total` is known when the tool counted first;
 * the CLI turns these into a progress bar, library users into logs or metrics.
 */
export interface ToolProgress {
  /** What is happening: 'count', 'copy', 'verify', 'check', 'write', 'read'. */
  phase: string
  session?: string
  /** Items (keys) done in this phase so far, over all sessions. */
  done: number
  total?: number
}

export type ProgressListener = (progress: ToolProgress) => void

/** Calls the listener at most every `everyItems` items (and always on `final`). */
export function progressTicker(listener: ProgressListener | undefined, phase: string, total?: number, everyItems = 500) {
  let done = 0
  let last = -Infinity
  return {
    get done() {
      return done
    },
    add(n: number, session?: string, final = false) {
      done += n
      if (!listener) return
      if (final || done - last >= everyItems) {
        last = done
        listener({ phase, session, done, total })
      }
    }
  }
}
