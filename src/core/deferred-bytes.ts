/**
 * A value's stored bytes, made on first use. The auth state hands these to a driver that
 * declares `deferredBytes` (memory:) instead of encoding a Signal session on every write: a
 * session is rewritten on every message and read back from the cache, so its bytes are needed
 * only when something reads the driver (a cache miss, a listing, a backup), and a session
 * superseded before that is never encoded (profiled: the encode was most of memory:'s own cost).
 *
 * Only for values that cannot change after the write: the auth state defers only the types whose
 * written objects its cache already hands out shared (read-cache.ts SHARED_VALUE_TYPES), after
 * checking the value is plain JSON (no bytes, nothing JSON cannot hold), so the bytes made later
 * are those an encode at write time would have made, and the write still fails at once on bad input.
 *
 * It is an empty Uint8Array to anything that does not know it: never pass one to a driver
 * without the capability.
 */
export class DeferredBytes extends Uint8Array {
  private make: (() => Uint8Array) | undefined
  private made: Uint8Array | undefined

  constructor(make: () => Uint8Array) {
    super(0)
    this.make = make
  }

  /** The bytes, made once (the value and its encoder are then let go). */
  bytes(): Uint8Array {
    if (!this.made) {
      this.made = this.make!()
      this.make = undefined
    }
    return this.made
  }
}

/** Stored bytes as they are, or made now when deferred. */
export const madeBytes = (bytes: Uint8Array): Uint8Array => (bytes instanceof DeferredBytes ? bytes.bytes() : bytes)
