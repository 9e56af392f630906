import { invalidArgument } from '../core/errors.js'
import type { Store } from '../store/store.js'
import { stagingSessionOf } from '../store/validate.js'

/** Where a copy (migrate, restore) into one target session writes, and how it becomes visible. */
export interface CopyDestination {
  /** The session written: `.staging:<target>`, or the target itself (hidden, or where the store cannot rename). */
  session: string
  /** Written into a staging session: invisible until publish(), its writes need no lease epoch. */
  staged: boolean
  /** Written in place and hidden until complete: each write carries `copy: step(last)`. */
  hidden: boolean
  /** The WriteBatch.copy of the next write (`last`: the write that completes the session, its creds). */
  step(last: boolean): 'begin' | 'end' | undefined
  /** Makes the finished copy visible as the target (replacing the target's old data, if asked). */
  publish(): Promise<void>
}

/** Whether `session` holds an unfinished copy written in place (only a copy writes its mark). */
export async function holdsHiddenCopy(store: Store, session: string): Promise<boolean> {
  if (!store.canHideCopies) return false
  for await (const s of store.hiddenCopies()) if (s === session) return true
  return false
}

const plainWrites = (session: string, staged: boolean, publish: () => Promise<void>): CopyDestination => ({
  session,
  staged,
  hidden: false,
  step: () => undefined,
  publish
})

/**
 * A copy into `target` is never visible half-made (Baileys would open it as a new device):
 * - `hide` (migrate), into a target without data, on a store that can hide copies (SQLite): the
 *   copy is written in place, its first write marks the session as a copy in progress and its
 *   last (the creds) removes the mark in the same transaction. No rename: on SQLite a rename
 *   rewrites every row. An unfinished copy is not listed, useAuthState refuses it (keys without
 *   creds), and the next copy into the target removes it (`epoch`: the target lease's, which
 *   fences every write of the copy);
 * - otherwise into a staging session that one atomic rename publishes;
 * - where the store cannot rename (file: root folder, session `default`) in place with creds
 *   last: an interruption leaves keys without creds, which useAuthState refuses to open.
 * `replace`: the target holds data the caller was allowed to overwrite (kept until the copy is whole).
 */
export async function copyDestination(store: Store, target: string, options: { replace: boolean; hide?: boolean; epoch?: number }): Promise<CopyDestination> {
  if (options.hide && !options.replace && store.canHideCopies) {
    // A leftover of an earlier, interrupted copy into this target: its mark says a copy wrote it.
    if (await holdsHiddenCopy(store, target)) await store.drop(target)
    let begun = false
    let ended = false
    return {
      session: target,
      staged: false,
      hidden: true,
      step(last) {
        const first = !begun
        begun = true
        ended ||= last
        // One write that is both first and last is atomic on its own: no mark needed.
        return first && last ? undefined : first ? 'begin' : last ? 'end' : undefined
      },
      async publish() {
        // A source session without creds: the copy still ends with a write that removes the mark.
        if (begun && !ended) await store.write(target, { copy: 'end', epoch: options.epoch })
      }
    }
  }
  const staging = stagingSessionOf(target)
  if (!store.canRename(staging, target)) {
    if (options.replace) await store.drop(target)
    return plainWrites(target, false, async () => undefined)
  }
  // A leftover of an earlier, interrupted copy into this target: only migrate/restore write it.
  await store.drop(staging)
  return plainWrites(staging, true, async () => {
    if (options.replace) await store.drop(target)
    await store.rename(staging, target)
  })
}

/**
 * The refusal of a copy onto sessions that hold data. A session with keys and no creds is the
 * remains of an interrupted migrate/restore: the message says so, and that --overwrite is safe.
 * `alternative` is the other way out, e.g. 'Pick another target'.
 */
export async function conflictError(store: Store, conflicts: readonly string[], alternative: string): Promise<Error> {
  const halfMade: string[] = []
  for (const session of conflicts) {
    if (!(await store.hasCreds(session))) halfMade.push(session)
  }
  const names = (sessions: string[]) => sessions.map(s => `"${s}"`).join(', ')
  const parts = [
    `The target ${store.label} already has data for session(s) ${names([...conflicts])}. Nothing was written. ${alternative}, or pass overwrite (--overwrite) to replace them.`
  ]
  if (halfMade.length > 0) {
    parts.push(
      `Session(s) ${names(halfMade)} have keys but no creds: an earlier migrate or restore into them was interrupted. Running again with overwrite (--overwrite) is safe: it replaces only those half-made sessions.`
    )
  }
  return invalidArgument(parts.join(' '))
}

/** Leftovers of interrupted migrate/restore runs: staging sessions and unfinished hidden copies (ls and doctor report them). */
export async function interruptedCopies(store: Store): Promise<string[]> {
  const out: string[] = []
  for await (const s of store.stagingSessions()) out.push(s)
  for await (const s of store.hiddenCopies()) out.push(s)
  return out.sort()
}

/** The line ls and doctor print for one leftover staging session. */
export const interruptedNote = (store: string, session: string): string =>
  `${session}: an interrupted migrate/restore (not a usable session). Run it again, or remove it: baileys-vault drop ${store} --session ${JSON.stringify(session)} --yes`
