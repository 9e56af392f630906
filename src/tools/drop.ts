import type { Store } from '../store/store.js'
import { isStagingSession } from '../store/validate.js'
import { assertSessionsExist, sumCounts } from './sessions.js'
import { withSessionLeases, type ToolLeaseOptions } from './tool-leases.js'

export type DropOptions = ToolLeaseOptions

export interface DropResult {
  store: string
  session: string
  dropped: true
  /** The session had creds. */
  creds: boolean
  /** Keys removed, in total and per type. */
  keys: number
  counts: Record<string, number>
}

/**
 * Removes one session (creds and every key) in one atomic step, holding its lease like every
 * writing tool: against a live bot it fails with LEASE_HELD and removes nothing (a bot whose
 * keys vanish under it keeps answering "connected" while every message fails to decrypt).
 * What was removed is counted inside the lease, so the numbers are what the drop deleted.
 */
export async function dropSession(store: Store, session: string, options: DropOptions = {}): Promise<DropResult> {
  await assertSessionsExist(store, [session])
  // A staging session (an interrupted migrate/restore) has no lease of its own: no bot runs on it.
  const leased = isStagingSession(session) ? [] : [session]
  return withSessionLeases(store, leased, options, async () => {
    const counts = await store.countKeys(session)
    const creds = await store.hasCreds(session)
    await store.drop(session)
    return { store: store.label, session, dropped: true, creds, keys: sumCounts(counts), counts }
  })
}
