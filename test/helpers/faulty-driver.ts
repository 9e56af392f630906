import type { Driver, WriteBatch } from '../../src/core/driver.js'

/**
 * Wraps a real driver and records its calls; `failWrites` makes the next writes throw as a
 * backend outage would (before anything is applied). Fault injection, not a mock: reads and
 * successful writes go to the real backend.
 */
export function instrument(inner: Driver) {
  const calls = { get: 0, write: 0, writes: [] as WriteBatch[] }
  let failWrites = 0
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
      if (failWrites > 0) {
        failWrites--
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
  return { driver, calls, failNextWrites: (n = 1) => void (failWrites = n) }
}
