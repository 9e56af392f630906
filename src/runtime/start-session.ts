import type { AuthStore as Store } from '../auth/auth-store.js'
import { sessionLogger, silentLogger } from './logger.js'
import { checkStartOptions, type SessionOptions, type StartSessionOptions } from './options.js'
import { preflight } from './preflight.js'
import { Session } from './session.js'
import { handleSignals } from './signals.js'
import { silenceLibsignalSessionDumps } from './quiet-libsignal.js'
import { firstTime } from '../store/warn-once.js'

/** Checks options and the stored creds, then builds the session (not started yet). */
export async function createSession(store: Store, sessionId: string, options: SessionOptions): Promise<Session> {
  if (options.silenceLibsignal !== false) silenceLibsignalSessionDumps()
  // Unsafe store settings (Redis without AOF): said once per process, whatever runs how many sessions.
  for (const warning of store.warnings()) if (firstTime(warning)) (options.logger ?? silentLogger).warn({ store: store.label }, warning)
  const result = await preflight(store, sessionId, options.preflight)
  return new Session(store, sessionId, options, result)
}

/**
 * Starts keeping one account alive. Resolves once the stored creds were checked; the session
 * connects on the next turn of the event loop, so listeners added right after `await` see every
 * event. Damaged creds give a session that goes `failed` (CORRUPT_DATA), never a new QR.
 */
export async function startSession(options: StartSessionOptions): Promise<Session> {
  checkStartOptions(options)
  const { store, sessionId, handleSignals: signals, ...rest } = options
  const session = await createSession(store, sessionId, rest)
  await session.takeLeaseFirst()
  if (signals) {
    const log = sessionLogger(rest.logger ?? silentLogger, sessionId)
    session.setSignalHandlers(handleSignals(() => session.stop(), log, signals === true ? {} : signals))
  }
  setImmediate(() => session.begin())
  return session
}
