import { replaceFileAsync, syncDir, unlinkAsync } from './file-io.js'
import { removeCompanions } from './file-companions.js'

/**
 * A checkpoint's second half (file-log.ts): the committed values of a folder written in place,
 * off the event loop, each file once.
 */

/** The newest committed value of a file not yet written in place; `value` null: deleted. */
export interface LoggedWrite {
  value: Uint8Array | null
}

/**
 * Files a checkpoint writes at once, across folders: each holds one thread of libuv's pool
 * (4 by default) at a time, so the logs' fdatasyncs of the writes going on meanwhile (the
 * commit path) always find a free thread.
 */
const FILES_IN_FLIGHT = 2

let filesInFlight = 0
const waitingForSlot: Array<() => void> = []

/** Runs `task` holding one of FILES_IN_FLIGHT slots (a finishing task hands its slot to the next). */
async function withSlot<T>(task: () => Promise<T>): Promise<T> {
  if (filesInFlight < FILES_IN_FLIGHT) filesInFlight++
  else await new Promise<void>(resolve => waitingForSlot.push(resolve))
  try {
    return await task()
  } finally {
    const next = waitingForSlot.shift()
    if (next) next()
    else filesInFlight--
  }
}

/**
 * Writes each logged write in place (off the event loop), then fsyncs the folder. A write
 * superseded meanwhile is skipped: the newer one is in a log this checkpoint keeps. An entry
 * leaves the index once its file holds it (unless a newer write replaced it meanwhile).
 */
export async function writeInPlace(dir: string, pending: Map<string, LoggedWrite>, writes: ReadonlyArray<[string, LoggedWrite]>, sync: boolean): Promise<void> {
  const results = await Promise.allSettled(
    writes.map(([name, write]) =>
      withSlot(async () => {
        if (pending.get(name) !== write) return
        // Baileys' .bak/.tmp of the file go with it (see file-companions.ts for the order).
        if (write.value === null) {
          await removeCompanions(dir, name)
          await unlinkAsync(dir, name)
        } else {
          await replaceFileAsync(dir, name, write.value, sync)
          await removeCompanions(dir, name)
        }
        if (pending.get(name) === write) pending.delete(name)
      })
    )
  )
  const failed = results.find(r => r.status === 'rejected')
  if (failed) throw (failed as PromiseRejectedResult).reason
  await syncDir(dir, sync)
}
