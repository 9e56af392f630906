import { invalidArgument } from '../core/errors.js'
import type { Store } from '../store/store.js'
import { stagingSessionOf } from '../store/validate.js'

/** Where a copy (migrate, restore) into one target session writes, and how it becomes visible. */
export interface CopyDestination {
  /** The session written: `.staging:<target>`, or the target itself where the store cannot rename. */
  session: string
  /** Written into a staging session: invisible until publish(). */
  staged: boolean
  /** Makes the finished copy visible as the target (replacing the target's old data, if asked). */
  publish(): Promise<void>
}

/**
 * A copy into `target` goes into a staging session that one atomic rename publishes, so a copy
 * killed half-way is never visible as a session (Baileys would open it as a new device). Where
 * the store cannot rename (file: root folder, session `default`) the copy writes in place with
 * creds last: an interruption leaves keys without creds, which useAuthState refuses to open.
 * `replace`: the target holds data the caller was allowed to overwrite.
 */
export async function copyDestination(store: Store, target: string, options: { replace: boolean }): Promise<CopyDestination> {
  const staging = stagingSessionOf(target)
  if (!store.canRename(staging, target)) {
    if (options.replace) await store.drop(target)
    return { session: target, staged: false, publish: async () => undefined }
  }
  // A leftover of an earlier, interrupted copy into this target: only migrate/restore write it.
  await store.drop(staging)
  return {
    session: staging,
    staged: true,
    async publish() {
      if (options.replace) await store.drop(target)
      await store.rename(staging, target)
    }
  }
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

/** Leftover staging sessions of interrupted migrate/restore runs (ls and doctor report them). */
export async function interruptedCopies(store: Store): Promise<string[]> {
  const out: string[] = []
  for await (const s of store.stagingSessions()) out.push(s)
  return out.sort()
}

/** The line ls and doctor print for one leftover staging session. */
export const interruptedNote = (store: string, session: string): string =>
  `${session}: an interrupted migrate/restore (not a usable session). Run it again, or remove it: baileys-vault drop ${store} --session ${JSON.stringify(session)} --yes`
