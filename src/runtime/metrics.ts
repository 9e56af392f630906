import { loadPeer } from '../core/peer.js'
import type * as PromClient from 'prom-client'

/**
 * Prometheus metrics of the runtime, through prom-client (an optional peer dependency, loaded
 * only when metrics are asked for). Labels carry session ids, states, close codes, driver names
 * and error codes: never a phone number beyond the session id, never a secret or message text.
 */
export interface VaultMetrics {
  /** The registry the metrics live in: yours if you passed one, so one /metrics serves both. */
  readonly registry: PromClient.Registry
  setState(session: string, state: string): void
  /** Counters take an optional amount (default 1). */
  connected(session: string, n?: number): void
  disconnected(session: string, reason: string, n?: number): void
  reconnectAttempt(session: string, n?: number): void
  message(session: string, direction: 'in' | 'out', n?: number): void
  decryptFailure(session: string, n?: number): void
  storeWrite(driver: string, seconds: number): void
  storeError(driver: string, code: string): void
  backupTaken(session: string, at: Date): void
  /** The session's lease: held, standby (another process holds it) or none (not taken, or leases off). */
  setLeaseState(session: string, state: 'held' | 'standby' | 'none'): void
  leaseTakeover(session: string, n?: number): void
  leaseLost(session: string, n?: number): void
  /** The retry store: messages held now, resends served from it, retry requests it could not answer (reason: expired, never-recorded). */
  retryStoreSize(session: string, size: number): void
  retryServed(session: string, n?: number): void
  retryMissed(session: string, reason: 'expired' | 'never-recorded', n?: number): void
  /** One webhook delivery attempt: delivered, failed (retried later) or dropped (its queue was full). */
  webhook(result: 'delivered' | 'failed' | 'dropped'): void
  /** Forgets a session's per-session series (it was removed from the runtime). */
  forget(session: string): void
  /** The text exposition for GET /metrics. */
  text(): Promise<string>
  readonly contentType: string
}

export interface MetricsOptions {
  /** A prom-client Registry you already expose; default: a new one. */
  registry?: PromClient.Registry
  /** Every state a session can be in, so `baileys_vault_sessions{state}` reports zeros too. */
  states: readonly string[]
  /** Called before each scrape, to bring the series up to date (see metrics-sync.ts). */
  beforeScrape?: () => void
}

const loadPromClient = (): Promise<typeof PromClient> =>
  loadPeer({
    name: 'prom-client',
    feature: 'Metrics',
    load: async () => {
      const mod = (await import('prom-client')) as typeof PromClient & { default?: typeof PromClient }
      return mod.default ?? mod
    }
  })

export async function createMetrics(options: MetricsOptions): Promise<VaultMetrics> {
  const prom = await loadPromClient()
  const registry = options.registry ?? new prom.Registry()
  const registers = [registry]
  const current = new Map<string, string>()

  const sessionState = new prom.Gauge({
    name: 'baileys_vault_session_state',
    help: '1 for the state each session is in now',
    labelNames: ['session', 'state'],
    registers
  })
  new prom.Gauge({
    name: 'baileys_vault_sessions',
    help: 'Number of sessions in each state',
    labelNames: ['state'],
    registers,
    collect() {
      this.reset()
      for (const state of options.states) this.set({ state }, 0)
      for (const state of current.values()) this.inc({ state })
    }
  })
  const connections = new prom.Counter({ name: 'baileys_vault_connections_total', help: 'Connections opened', labelNames: ['session'], registers })
  const disconnects = new prom.Counter({
    name: 'baileys_vault_disconnects_total',
    help: 'Disconnections by reason (close code)',
    labelNames: ['session', 'reason'],
    registers
  })
  const reconnects = new prom.Counter({ name: 'baileys_vault_reconnect_attempts_total', help: 'Reconnect attempts', labelNames: ['session'], registers })
  const messages = new prom.Counter({ name: 'baileys_vault_messages_total', help: 'Messages by direction', labelNames: ['session', 'direction'], registers })
  const decryptFailures = new prom.Counter({
    name: 'baileys_vault_decrypt_failures_total',
    help: 'Messages that could not be decrypted',
    labelNames: ['session'],
    registers
  })
  const writeSeconds = new prom.Histogram({
    name: 'baileys_vault_store_write_seconds',
    help: 'Duration of one atomic store write',
    labelNames: ['driver'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers
  })
  const storeErrors = new prom.Counter({
    name: 'baileys_vault_store_errors_total',
    help: 'Store operations that failed, by error code',
    labelNames: ['driver', 'code'],
    registers
  })
  const lastBackup = new prom.Gauge({
    name: 'baileys_vault_last_backup_timestamp_seconds',
    help: 'Unix time of the last successful scheduled backup',
    labelNames: ['session'],
    registers
  })

  const leaseState = new prom.Gauge({
    name: 'baileys_vault_lease_state',
    help: "The session's lease: 2 held, 1 standby (another process holds it), 0 none",
    labelNames: ['session'],
    registers
  })
  const takeovers = new prom.Counter({
    name: 'baileys_vault_lease_takeovers_total',
    help: 'Leases taken after waiting as a standby',
    labelNames: ['session'],
    registers
  })
  const leasesLost = new prom.Counter({
    name: 'baileys_vault_lease_lost_total',
    help: 'Renewals or writes refused with LEASE_LOST (the socket was ended)',
    labelNames: ['session'],
    registers
  })
  const retryStoreSize = new prom.Gauge({
    name: 'baileys_vault_retry_store_messages',
    help: 'Sent messages held in the retry store',
    labelNames: ['session'],
    registers
  })
  const retryServed = new prom.Counter({
    name: 'baileys_vault_retry_resends_total',
    help: "Contacts' retry requests answered from the retry store",
    labelNames: ['session'],
    registers
  })
  const retryMissed = new prom.Counter({
    name: 'baileys_vault_retry_misses_total',
    help: 'Retry requests for messages the retry store did not hold, by reason (expired, never-recorded)',
    labelNames: ['session', 'reason'],
    registers
  })
  const webhooks = new prom.Counter({
    name: 'baileys_vault_webhook_deliveries_total',
    help: 'Webhook delivery attempts by result: delivered, failed (retried with backoff), dropped (queue full)',
    labelNames: ['result'],
    registers
  })
  const LEASE_STATE_VALUE = { held: 2, standby: 1, none: 0 } as const

  const perSession = [connections, reconnects, decryptFailures, lastBackup, leaseState, takeovers, leasesLost, retryStoreSize, retryServed]
  return {
    registry,
    contentType: registry.contentType,
    setState(session, state) {
      const previous = current.get(session)
      if (previous !== undefined && previous !== state) sessionState.remove({ session, state: previous })
      current.set(session, state)
      sessionState.set({ session, state }, 1)
    },
    connected: (session, n = 1) => connections.inc({ session }, n),
    disconnected: (session, reason, n = 1) => disconnects.inc({ session, reason }, n),
    reconnectAttempt: (session, n = 1) => reconnects.inc({ session }, n),
    message: (session, direction, n = 1) => messages.inc({ session, direction }, n),
    decryptFailure: (session, n = 1) => decryptFailures.inc({ session }, n),
    storeWrite: (driver, seconds) => writeSeconds.observe({ driver }, seconds),
    storeError: (driver, code) => storeErrors.inc({ driver, code }),
    backupTaken: (session, at) => lastBackup.set({ session }, at.getTime() / 1000),
    setLeaseState: (session, state) => leaseState.set({ session }, LEASE_STATE_VALUE[state]),
    leaseTakeover: (session, n = 1) => takeovers.inc({ session }, n),
    leaseLost: (session, n = 1) => leasesLost.inc({ session }, n),
    retryStoreSize: (session, size) => retryStoreSize.set({ session }, size),
    retryServed: (session, n = 1) => retryServed.inc({ session }, n),
    retryMissed: (session, reason, n = 1) => retryMissed.inc({ session, reason }, n),
    webhook: result => webhooks.inc({ result }),
    forget(session) {
      const state = current.get(session)
      if (state !== undefined) sessionState.remove({ session, state })
      current.delete(session)
      for (const metric of perSession) metric.remove({ session })
      // Series with extra labels (reason, direction) are kept: removing them needs every label value.
    },
    text: () => {
      options.beforeScrape?.()
      return registry.metrics()
    }
  }
}
