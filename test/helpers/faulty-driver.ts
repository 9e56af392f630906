import type { Driver, WriteBatch } from '../../src/core/driver.js'

/**
 * Wraps a real driver and records its calls; `failNextWrites` makes the next writes throw as a
 * backend outage would (before anything is applied), `failNextWriteWhere` the next write whose
 * batch matches (e.g. the one carrying a send's `session` key). Fault injection, not a mock: reads and
 * successful writes go to the real backend.
 */
export function instrument(inner: Driver) {
  const calls = { get: 0, write: 0, writes: [] as WriteBatch[] }
  let failWrites = 0
  let failWhere: ((batch: WriteBatch) => boolean) | undefined
  let failed = 0
  const driver: Driver = {
    ...inner,
    kind: inner.kind,
    capabilities: inner.capabilities,
    getCreds: s => inner.getCreds(s),
    get: (s, t, ids) => {
      calls.get++
      return inner.get(s, t, ids)
    },
    write: async (s, batch) => {
      calls.write++
      if (failWrites > 0 || failWhere?.(batch)) {
        if (failWrites > 0) failWrites--
        else failWhere = undefined
        failed++
        throw new Error('connection reset by peer (injected)')
      }
      calls.writes.push(batch)
      return inner.write(s, batch)
    },
    list: (s, t, o) => inner.list(s, t, o),
    sessions: () => inner.sessions(),
    drop: s => inner.drop(s),
    close: () => inner.close()
  }
  return {
    driver,
    calls,
    failNextWrites: (n = 1) => void (failWrites = n),
    failNextWriteWhere: (match: (batch: WriteBatch) => boolean) => void (failWhere = match),
    /** Writes that threw by injection so far. */
    failed: () => failed
  }
}
