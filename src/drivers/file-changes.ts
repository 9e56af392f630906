import { statSync } from 'node:fs'
import { isMissing } from './file-io.js'

/**
 * Whether a file of the file: store may have changed since a moment, told from its timestamps
 * without reading it (migrate's verification reads again only what changed during its copy).
 *
 * CHANGE_MARGIN_MS: how long before `since` a timestamp still counts as "changed since". The
 * kernel stamps files from a coarse clock (a tick, at most 10 ms, behind Date.now()), so a write
 * made just after a read can carry the same timestamp as the write before that read; the margin
 * covers the tick with room for small clock steps and a network file system's clock skew.
 */
export const CHANGE_MARGIN_MS = 1000

/**
 * Whether a file (or folder) may have changed at or after `since` (ms since the epoch): its
 * ctime, which every write, rename and chmod sets and no utimes can set back, or its mtime is
 * within CHANGE_MARGIN_MS of it or later. undefined when it does not exist.
 */
export function statChangedSince(path: string, since: number): boolean | undefined {
  let stats
  try {
    stats = statSync(path, { throwIfNoEntry: false })
  } catch (err) {
    if (isMissing(err)) return undefined
    throw err
  }
  if (!stats) return undefined
  const from = since - CHANGE_MARGIN_MS
  return stats.ctimeMs >= from || stats.mtimeMs >= from
}
