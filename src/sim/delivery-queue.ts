/**
 * Delivery to linked devices: stanzas one client sends to another go out after a short delay
 * (as over a real server: delivering within a few milliseconds loses a race inside Baileys,
 * which holds an own message ~100 ms in its event buffer), to the device's live connection, or
 * into its offline queue, which its next login drains in order.
 */
import type { BinaryNode } from '../core/baileys.js'
import type { DeviceRecord } from './state.js'

/** The default delay between a client sending a stanza and its recipients getting it. */
export const DEFAULT_DELIVERY_DELAY_MS = 150
/** Stanzas kept for an offline device; the oldest are dropped beyond this (bounded memory). */
export const MAX_PENDING = 10_000

/** Keeps a stanza for the device's next login; beyond MAX_PENDING the oldest goes. */
export function queueOffline(device: DeviceRecord, stanza: BinaryNode): void {
  device.pending.push(stanza)
  if (device.pending.length > MAX_PENDING) device.pending.shift()
}

/** Everything queued for the device, oldest first; the queue is empty afterwards. */
export function takeOffline(device: DeviceRecord): BinaryNode[] {
  return device.pending.splice(0)
}

export interface DeliveryTarget {
  /** Sends now if the device is online and ready, else queues it offline. */
  deliver(device: DeviceRecord, stanza: BinaryNode): void
}

/**
 * Stanzas between clients, each delivered `delayMs` after it was routed. The delay is the same
 * for every stanza, so the order per device is the routing order. Stopping hands what is still
 * in flight to the offline queues at once: nothing routed is lost by a restart.
 */
export class DeliveryQueue {
  private readonly inFlight = new Map<NodeJS.Timeout, () => void>()

  constructor(
    private readonly target: DeliveryTarget,
    private delay: number = DEFAULT_DELIVERY_DELAY_MS
  ) {}

  get delayMs(): number {
    return this.delay
  }

  set delayMs(ms: number) {
    this.delay = ms
  }

  send(device: DeviceRecord, stanza: BinaryNode): void {
    const deliver = () => this.target.deliver(device, stanza)
    if (this.delay <= 0) return deliver()
    const timer = setTimeout(() => {
      this.inFlight.delete(timer)
      deliver()
    }, this.delay)
    timer.unref()
    this.inFlight.set(timer, deliver)
  }

  /** Delivers (or queues offline) everything still waiting for its delay, in order. */
  drain(): void {
    const waiting = [...this.inFlight]
    this.inFlight.clear()
    for (const [timer, deliver] of waiting) {
      clearTimeout(timer)
      deliver()
    }
  }
}
