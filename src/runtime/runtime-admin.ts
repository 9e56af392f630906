/**
 * The operator's view and verbs for the sessions of a runtime (what the control API and the
 * dashboard call through Runtime's methods): one report per session with its lease owner and
 * last backup, a backup on demand, the doctor's findings, and delete (stop, backup, then drop:
 * never a drop without the backup). No report carries a key, the noise key, the ADV secret or
 * message text: states, counters, times, file names and the doctor's findings only.
 */
import { mkdir } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join, resolve } from 'node:path'
import { VaultError, isVaultError } from '../core/errors.js'
import { parseOwner } from '../drivers/shared-lease.js'
import { backup } from '../tools/backup.js'
import { doctor } from '../tools/doctor.js'
import type { Finding } from '../tools/findings.js'
import { sessionHasData } from '../tools/sessions.js'
import type { SessionStats } from './analytics.js'
import { backupAndClear, backupFileName } from './logged-out.js'
import type { AuthStore as Store } from '../auth/auth-store.js'
import type { EventFeed } from './event-feed.js'
import type { Session } from './session.js'
import type { SessionState, StateReason } from './states.js'

/** What the admin operations use of the Runtime (which calls them with itself). */
export interface AdminRuntime {
  readonly store: Store
  readonly events: EventFeed
  get(sessionId: string): Session | undefined
  sessions(): Session[]
  remove(sessionId: string): Promise<void>
}

export interface LeaseOwner {
  host: string
  pid: number
  /** True when this process holds it. */
  self: boolean
  expiresInMs: number
}

export interface SessionReport {
  session: string
  /** The session's state here; `stopped` for a stored session this process does not run. */
  state: SessionState
  /** Whether this process runs the session (a stored session may run elsewhere, or nowhere). */
  running: boolean
  since?: string
  reason?: StateReason
  /** Who holds the session's lease (this process or another); null when nobody does. */
  lease: LeaseOwner | null
  stats?: Pick<SessionStats, 'connections' | 'reconnectAttempts' | 'messagesIn' | 'messagesOut' | 'decryptFailures' | 'uptimeRatio' | 'lastError'>
  lastBackup: { file: string; at: string } | null
  /** While linking: whether a QR waits to be scanned, and the pairing code to type. */
  linking?: { qr: boolean; pairingCode?: string }
}

export interface DoctorReport {
  session: string
  status: string
  linked: boolean
  keys: number
  counts: Record<string, number>
  findings: Finding[]
}

const notFound = (id: string) => new VaultError('NOT_FOUND', `No session "${id}" here or in the store; create it with POST /api/sessions { "id": "${id}" }.`)

/** Every session this process runs or the store holds, sorted by id. */
export async function reportSessions(runtime: AdminRuntime): Promise<SessionReport[]> {
  const ids = new Set(runtime.sessions().map(s => s.sessionId))
  for await (const id of runtime.store.sessions()) ids.add(id)
  const reports: SessionReport[] = []
  for (const id of [...ids].sort()) reports.push(await report(runtime, id))
  return reports
}

/** One session's report; NOT_FOUND when neither this process nor the store knows it. */
export async function reportSession(runtime: AdminRuntime, id: string): Promise<SessionReport> {
  if (!runtime.get(id) && !(await sessionHasData(runtime.store, id))) throw notFound(id)
  return report(runtime, id)
}

async function report(runtime: AdminRuntime, id: string): Promise<SessionReport> {
  const session = runtime.get(id)
  const lastBackup = runtime.events.lastBackup(id) ?? null
  const lease = await leaseOwner(runtime, id)
  if (!session) return { session: id, state: 'stopped', running: false, lease, lastBackup }
  const health = session.health()
  const s = session.stats()
  const link = runtime.events.link(id)
  return {
    session: id,
    state: health.state,
    running: health.state !== 'stopped',
    since: health.since,
    reason: health.reason,
    lease,
    stats: {
      connections: s.connections,
      reconnectAttempts: s.reconnectAttempts,
      messagesIn: s.messagesIn,
      messagesOut: s.messagesOut,
      decryptFailures: s.decryptFailures,
      uptimeRatio: s.uptimeRatio,
      lastError: s.lastError
    },
    lastBackup,
    ...(health.state === 'registering' ? { linking: { qr: link.qr !== undefined, pairingCode: link.pairingCode } } : {})
  }
}

async function leaseOwner(runtime: AdminRuntime, id: string): Promise<LeaseOwner | null> {
  let info
  try {
    info = await runtime.store.leaseInfo(id)
  } catch (err) {
    if (isVaultError(err, 'INVALID_ARGUMENT')) return null // a store without leases
    throw err
  }
  if (!info || info.expiresInMs <= 0) return null
  const owner = parseOwner(info.owner)
  if (!owner) return null
  return { ...owner, self: owner.host === hostname() && owner.pid === process.pid, expiresInMs: info.expiresInMs }
}

/** Refuses to touch a session another live process holds: it would write on. */
async function assertNotHeldElsewhere(runtime: AdminRuntime, id: string): Promise<void> {
  const lease = await leaseOwner(runtime, id)
  if (lease && !lease.self)
    throw new VaultError('LEASE_HELD', `Session "${id}" is held by host ${lease.host} pid ${lease.pid}; stop it there first (or wait for its lease to expire).`)
}

/** A backup of one session into `dir`, named after it and the time; resolves with the file. */
export async function backupSession(runtime: AdminRuntime, id: string, dir: string): Promise<{ file: string }> {
  if (!(await sessionHasData(runtime.store, id))) throw notFound(id)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const file = resolve(join(dir, backupFileName(id, 'manual')))
  await backup(runtime.store, file, { sessions: [id] })
  runtime.events.publish({ event: 'backup', session: id, file })
  return { file }
}

/** Stop, backup, then drop. A failed backup leaves the session stored (stopped) and rejects. */
export async function deleteSession(runtime: AdminRuntime, id: string, dir: string): Promise<{ backup?: string }> {
  const running = runtime.get(id)
  if (!running && !(await sessionHasData(runtime.store, id))) throw notFound(id)
  if (!running) await assertNotHeldElsewhere(runtime, id)
  if (running) await runtime.remove(id)
  // Through an auth state, so the shared read cache forgets the session's keys with the data.
  const auth = await runtime.store.useAuthState(id)
  const file = await backupAndClear(runtime.store, id, auth, dir, 'delete')
  if (file) runtime.events.publish({ event: 'backup', session: id, file })
  return { backup: file }
}

/** The doctor's checks of one stored session (findings name types, ids and counts; never a value). */
export async function doctorSession(runtime: AdminRuntime, id: string): Promise<DoctorReport & { storeFindings: Finding[] }> {
  if (!(await sessionHasData(runtime.store, id))) throw notFound(id)
  const result = await doctor(runtime.store, { sessions: [id] })
  const [r] = result.sessions
  if (r === undefined) throw notFound(id) // not reached: doctor reports every session it is given, or throws NOT_FOUND
  return { session: r.session, status: r.status, linked: r.linked, keys: r.keys, counts: r.counts, findings: r.findings, storeFindings: result.findings }
}
