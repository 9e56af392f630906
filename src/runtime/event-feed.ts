/**
 * One stream of the JSON events of every session a runtime starts (event-json.ts), for
 * `/api/events` and webhooks, plus what the control API reads from it: each session's pending
 * QR and pairing code (while it is linking) and its last backup. Publishing is synchronous and
 * never waits for a subscriber, so a slow reader cannot slow a session.
 */
import type { VaultEvent } from './event-json.js'

export type EventListener = (event: VaultEvent) => void

export interface LinkInfo {
  /** The QR to show now (only while the session is registering). */
  qr?: string
  /** The pairing code to type on the phone (only while the session is registering). */
  pairingCode?: string
}

export class EventFeed {
  private readonly listeners = new Set<EventListener>()
  private readonly links = new Map<string, LinkInfo>()
  private readonly backups = new Map<string, { file: string; at: string }>()

  /** Listens to every event from now on; returns the function that stops listening. */
  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  publish(event: VaultEvent): void {
    this.remember(event)
    for (const listener of [...this.listeners]) {
      try {
        listener(event)
      } catch {
        // A subscriber's failure is its own (SSE and webhooks handle theirs); the session goes on.
      }
    }
  }

  link(session: string): LinkInfo {
    return { ...this.links.get(session) }
  }

  lastBackup(session: string): { file: string; at: string } | undefined {
    return this.backups.get(session)
  }

  /** The session left the runtime: nothing of it is pending any more. */
  forget(session: string): void {
    this.links.delete(session)
  }

  private remember(event: VaultEvent): void {
    const session = event.session
    if (typeof session !== 'string') return
    if (event.event === 'qr') this.links.set(session, { qr: String(event.qr) })
    else if (event.event === 'pairing-code') this.links.set(session, { pairingCode: String(event.code) })
    else if (event.event === 'state' && event.state !== 'registering') this.links.delete(session)
    else if (event.event === 'backup') this.backups.set(session, { file: String(event.file), at: new Date().toISOString() })
  }
}
