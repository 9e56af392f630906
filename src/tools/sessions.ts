import { VaultError, invalidArgument } from '../core/errors.js'
import { assertSessionId } from '../store/validate.js'
import type { Store } from '../store/store.js'

/** The sessions a tool works on: the requested ones (deduplicated, in order) or all of the store. */
export async function selectSessions(store: Store, requested?: readonly string[]): Promise<string[]> {
  if (requested && requested.length > 0) return [...new Set(requested)]
  const all: string[] = []
  for await (const s of store.sessions()) all.push(s)
  return all.sort()
}

/** True when the session has creds or at least one key. Reads no values. */
export async function sessionHasData(store: Store, session: string): Promise<boolean> {
  if (await store.hasCreds(session)) return true
  for await (const _ of store.listKeys(session)) return true
  return false
}

/** Requested sessions must exist in the source; a typo should not look like an empty success. */
export async function assertSessionsExist(store: Store, sessions: readonly string[]): Promise<void> {
  for (const s of sessions) {
    if (!(await sessionHasData(store, s))) throw await sessionNotFound(store, s)
  }
}

const LISTED = 10

/** NOT_FOUND for a session with no creds and no keys, naming the sessions the store does hold. */
export async function sessionNotFound(store: Store, session: string): Promise<VaultError> {
  const held: string[] = []
  let more = false
  for await (const s of store.sessions()) {
    if (held.length === LISTED) {
      more = true
      break
    }
    held.push(s)
  }
  const list = held.length === 0 ? 'none' : held.map(s => `"${s}"`).join(', ') + (more ? ', …' : '')
  return new VaultError(
    'NOT_FOUND',
    `Session "${session}" has no creds and no keys in ${store.label}: it is not in this store (sessions: ${list}). Check the --session value; \`baileys-vault ls ${store.label}\` lists them.`
  )
}

export const sumCounts = (counts: Record<string, number>): number => Object.values(counts).reduce((a, b) => a + b, 0)

/** Collects up to `limit` items of a stream (for mismatch/finding lists that must stay bounded). */
export class BoundedList<T> {
  readonly items: T[] = []
  count = 0
  constructor(private readonly limit: number) {}
  push(item: T): void {
    this.count++
    if (this.items.length < this.limit) this.items.push(item)
  }
}

/**
 * The target session of each source session under `rename` (source → target id), checked:
 * every renamed session is one being copied, target ids are valid, and no two sources land on
 * the same target. `verb` names the operation in messages ('migrated', 'restored').
 */
export function renamePlan(sessions: readonly string[], rename: Readonly<Record<string, string>> | undefined, verb: string): (session: string) => string {
  const targetOf = (session: string) => rename?.[session] ?? session
  for (const source of Object.keys(rename ?? {})) {
    if (!sessions.includes(source)) throw invalidArgument(`rename names session "${source}", which is not being ${verb}.`)
    assertSessionId(targetOf(source))
  }
  const targets = sessions.map(targetOf)
  const twice = targets.find((t, i) => targets.indexOf(t) !== i)
  if (twice !== undefined) throw invalidArgument(`Two source sessions would both be written to target session "${twice}"; rename one of them.`)
  return targetOf
}
