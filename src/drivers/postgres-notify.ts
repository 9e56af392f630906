import { createHash } from 'node:crypto'
import type { PgClientLike, PgPoolLike } from './pg-types.js'
import type { LeaseEvent, LeaseExtras } from './lease-events.js'
import { parseLeaseEvent } from './redis-notify.js'

/**
 * Lease events over PostgreSQL LISTEN/NOTIFY: the release statement calls pg_notify on the
 * store's channel (delivered at its commit), `announce` notifies a note. One listening
 * connection per store instance, checked out of the pool on the first `watch` and kept; it
 * reconnects with backoff. Its backend pid is also what an owner stamps on its leases: when
 * that backend is gone from pg_stat_activity (the owner's host died or lost the database),
 * another process may take the lease at once instead of after the TTL (postgres-lease.ts).
 */

/** What LISTEN needs of a checked-out client beyond a query. */
interface ListeningClient extends PgClientLike {
  on(event: 'notification', listener: (msg: { channel: string; payload?: string }) => void): unknown
  on(event: 'error' | 'end', listener: (err?: Error) => void): unknown
}

/** A channel name per store (tables and schema): at most 63 bytes, an identifier. */
export const pgLeaseChannel = (lockKey: string): string => `baileys_vault_lease_${createHash('sha1').update(lockKey).digest('hex').slice(0, 20)}`

export interface PgLeaseEvents extends LeaseExtras {
  /** The listening connection's backend pid, once connected (undefined while it is down or never started). */
  backendPid(): number | undefined
  /** Resolves once the listening connection is up, failed, or `waitMs` passed (no-op if never started). */
  settled(waitMs: number): Promise<void>
  /** Called with the new backend pid after every (re)connection. */
  onConnected(hook: (pid: number) => void): void
  close(): void
}

export function postgresLeaseEvents(pool: PgPoolLike, channel: string): PgLeaseEvents {
  const listeners = new Set<(event: LeaseEvent) => void>()
  const hooks: Array<(pid: number) => void> = []
  let client: ListeningClient | undefined
  let pid: number | undefined
  let started = false
  let closed = false
  let attempt = 0
  let connecting: Promise<void> | undefined
  let retry: NodeJS.Timeout | undefined

  const dispatch = (payload: string | undefined) => {
    const event = payload === undefined ? undefined : parseLeaseEvent(payload)
    if (event) for (const listener of listeners) listener(event)
  }
  const dropped = (c: ListeningClient, err?: Error) => {
    if (client !== c) return
    client = undefined
    pid = undefined
    c.release(err ?? true)
    schedule()
  }
  const schedule = () => {
    if (closed || retry) return
    retry = setTimeout(() => ((retry = undefined), void connect()), Math.min(200 * 2 ** attempt++, 5_000))
    retry.unref?.()
  }
  const connect = () =>
    (connecting ??= (async () => {
      let c: ListeningClient | undefined
      try {
        c = (await pool.connect()) as ListeningClient
        if (closed) return c.release()
        c.on('notification', msg => msg.channel === channel && dispatch(msg.payload))
        c.on('error', err => dropped(c!, err))
        c.on('end', () => dropped(c!))
        client = c
        const { rows } = await c.query({ text: 'SELECT pg_backend_pid() AS pid' })
        // LISTEN last: pg_stat_activity then shows it as this connection's query (how operators count them).
        await c.query({ text: `LISTEN "${channel}"` })
        pid = Number(rows[0].pid)
        attempt = 0
        for (const hook of hooks) hook(pid)
      } catch (err) {
        if (c) dropped(c, err as Error)
        else schedule()
      }
    })().finally(() => (connecting = undefined)))

  return {
    watch(listener) {
      listeners.add(listener)
      if (!started) {
        started = true
        void connect()
      }
      return () => listeners.delete(listener)
    },
    async announce(note) {
      await pool.query({ text: 'SELECT pg_notify($1, $2)', values: [channel, `n:${note}`] })
    },
    backendPid: () => pid,
    async settled(waitMs) {
      if (!started || pid !== undefined || !connecting) return
      await Promise.race([connecting, new Promise(resolve => setTimeout(resolve, waitMs).unref?.())])
    },
    onConnected: hook => void hooks.push(hook),
    close() {
      closed = true
      if (retry) clearTimeout(retry)
      const c = client
      client = undefined
      c?.release(true)
    }
  }
}
