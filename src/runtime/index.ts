/**
 * baileys-vault/runtime: keeps linked WhatsApp accounts alive around makeWASocket.
 *
 *   const session = await startSession({ store, sessionId: 'main', socket: { … } })
 *   session.on('socket', sock => sock.ev.on('messages.upsert', …))
 */
export { startSession } from './start-session.js'
export { Session, type SessionHealth } from './session.js'
export { createRuntime, Runtime, type RuntimeOptions } from './runtime.js'
export type { StartSessionOptions, SessionOptions, LinkOptions } from './options.js'
export type { SessionEvents, StateChange, Listener } from './events.js'
export { canTransition, type SessionState, type StateReason } from './states.js'
export {
  ReconnectPolicy,
  DEFAULT_CODES,
  backoffDelay,
  type ReconnectPolicyOptions,
  type CloseAction,
  type BackoffOptions,
  type LoopOptions,
  type Decision
} from './policy.js'
export type { WatchdogOptions } from './watchdog.js'
export type { SessionStats } from './analytics.js'
export { preflight, repairPreKeyCounters, type PreflightResult, type PreflightOptions, type PreKeyRepair } from './preflight.js'
export { CredsSaver } from './creds-saver.js'
export type { RuntimeLogger } from './logger.js'
export type { SignalOptions } from './signals.js'
export { DEFAULT_LEASE_TTL_MS, type LeaseOptions, type LeaseSetting, type LeaseStats } from './lease.js'
export { startFleet, type Fleet, type FleetOptions } from './fleet.js'
export { createControlApi, type ControlApiOptions, type RequestHandler } from './http-api.js'
export type { AuthLimitOptions } from './http-auth.js'
export { startWebhooks, signBody, SIGNATURE_HEADER, type WebhookOptions, type Webhooks, type DeliveryResult } from './webhooks.js'
export { EventFeed, type EventListener, type LinkInfo } from './event-feed.js'
export type { VaultEvent } from './event-json.js'
export type { SessionReport, LeaseOwner, DoctorReport } from './runtime-admin.js'
