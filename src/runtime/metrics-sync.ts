import type { SessionStats } from './analytics.js'
import type { VaultMetrics } from './metrics.js'

interface StatsSource {
  readonly sessionId: string
  stats(): SessionStats
}

/**
 * Brings the Prometheus series up to date from each session's `stats()` (plain counters), just
 * before a scrape: the sessions stay free of any metrics code, and counters only ever grow by
 * the difference since the last scrape.
 */
export function metricsFromStats(metrics: VaultMetrics, sessions: () => Iterable<StatsSource>): () => void {
  const seen = new Map<string, SessionStats>()
  return () => {
    for (const session of sessions()) {
      const now = session.stats()
      const before = seen.get(session.sessionId)
      const id = session.sessionId
      metrics.setState(id, now.state)
      const grew = (a: number, b = 0) => Math.max(0, a - b)
      metrics.connected(id, grew(now.connections, before?.connections))
      metrics.reconnectAttempt(id, grew(now.reconnectAttempts, before?.reconnectAttempts))
      metrics.message(id, 'in', grew(now.messagesIn, before?.messagesIn))
      metrics.message(id, 'out', grew(now.messagesOut, before?.messagesOut))
      metrics.decryptFailure(id, grew(now.decryptFailures, before?.decryptFailures))
      for (const [reason, count] of Object.entries(now.disconnects)) {
        metrics.disconnected(id, reason, grew(count, before?.disconnects[reason]))
      }
      if (now.lease) {
        metrics.setLeaseState(id, now.lease.state)
        metrics.leaseTakeover(id, grew(now.lease.takeovers, before?.lease?.takeovers))
        metrics.leaseLost(id, grew(now.lease.lost, before?.lease?.lost))
      }
      if (now.messages) {
        metrics.retryStoreSize(id, now.messages.size)
        metrics.retryServed(id, grew(now.messages.served, before?.messages?.served))
        metrics.retryMissed(id, 'expired', grew(now.messages.missed.expired, before?.messages?.missed.expired))
        metrics.retryMissed(id, 'never-recorded', grew(now.messages.missed.neverRecorded, before?.messages?.missed.neverRecorded))
      }
      seen.set(id, now)
    }
  }
}
