/**
 * Fleet rebalance: instances of one fleet (`run --all --capacity N`) know each other through
 * notes on the store's lease channel (PostgreSQL NOTIFY, Redis pub/sub): each announces its
 * presence and session count every round, and `bye` when it stops. An instance with at least two
 * sessions more than the least loaded member hands one over gracefully (stop: drain, end the
 * socket, release the lease, which wakes the others), waits until another instance took it, and
 * repeats, until the spread is within one. Stores without a push channel know only the members
 * that hold a lease (an instance with none is invisible there).
 */
import { deadLocalOwner } from '../drivers/shared-lease.js'
import type { Store } from '../store/store.js'
import { leaseWaker } from './lease-wake.js'

interface Note {
  fleet: string
  /** Sessions it runs, and its capacity. */
  n?: number
  cap?: number
  bye?: boolean
}

const parseNote = (text: string): Note | undefined => {
  try {
    const note = JSON.parse(text)
    return note && typeof note.fleet === 'string' ? note : undefined
  } catch {
    return undefined
  }
}

/** The other members of the fleet, as heard on the store's channel. */
export class FleetMembers {
  private readonly heard = new Map<string, { at: number; room: boolean }>()
  private readonly unsubscribe: () => void
  private lastCount?: number

  constructor(
    private readonly store: Store,
    /** This process: `host:pid`. */
    readonly self: string,
    private readonly ttlMs: number,
    /** Called when a note changes the picture (a member joined, left, or its count changed). */
    onChange: () => void
  ) {
    this.unsubscribe = leaseWaker(store).onNote(text => {
      const note = parseNote(text)
      if (!note || note.fleet === self) return
      const known = this.heard.has(note.fleet)
      if (note.bye) this.heard.delete(note.fleet)
      else this.heard.set(note.fleet, { at: Date.now(), room: note.n === undefined || note.cap === undefined || note.n < note.cap })
      if (note.bye || !known || note.n !== undefined) onChange()
    })
  }

  /** Members heard within the TTL, except those on this host whose pid is gone. */
  live(): string[] {
    const now = Date.now()
    return [...this.heard].filter(([member, { at }]) => now - at <= this.ttlMs && deadLocalOwner(`${member}:x`) === undefined).map(([member]) => member)
  }

  /** Whether a member said it has room for one more session (members only seen holding leases: assumed yes). */
  hasRoom(member: string): boolean {
    return this.heard.get(member)?.room ?? true
  }

  /** Presence, count and capacity; `force` re-announces an unchanged count (the heartbeat). */
  async announce(count: number, capacity: number, force: boolean): Promise<void> {
    if (!force && count === this.lastCount) return
    this.lastCount = count
    await this.store.announceLease(JSON.stringify({ fleet: this.self, n: count, cap: capacity }))
  }

  async bye(): Promise<void> {
    this.unsubscribe()
    await this.store.announceLease(JSON.stringify({ fleet: this.self, bye: true }))
  }
}

/** One handoff at a time: the session handed over, until another instance holds it (or a TTL passed). */
export class Rebalancer {
  private handing?: { session: string; until: number }

  constructor(
    private readonly options: {
      self: string
      ttlMs: number
      /** The connected sessions this instance may hand over. */
      candidates(): string[]
      handOver(session: string): Promise<void>
    }
  ) {}

  /**
   * One step: `counts` = sessions per live member with room for one more (this one included, 0
   * for members without sessions), `holder(session)` = the process holding a session now.
   */
  async step(counts: Map<string, number>, holder: (session: string) => string | undefined): Promise<string | undefined> {
    const { self } = this.options
    if (this.handing) {
      const now = holder(this.handing.session)
      if ((now && now !== self) || Date.now() > this.handing.until) this.handing = undefined
      else return undefined
    }
    const mine = counts.get(self) ?? 0
    const others = [...counts].filter(([member]) => member !== self).map(([, n]) => n)
    if (others.length === 0 || mine - Math.min(...others) < 2) return undefined
    const session = this.options.candidates().sort().at(-1)
    if (!session) return undefined
    this.handing = { session, until: Date.now() + this.options.ttlMs }
    await this.options.handOver(session)
    return session
  }
}
