import { pino } from 'pino'
import { openStore } from '../src/open-store.js'
import { startSession, type Session } from '../src/runtime/index.js'
import { trustSimulator } from '../src/sim/index.js'
import { childSpec } from './util.js'

/**
 * Child of the handoff workload: keeps session `session` of `storeUrl` as `run` would, at the
 * default lease TTL (30 s): it owns it or waits as a standby. Over IPC the parent says `yield`
 * (a graceful stop: the lease is released) and later `stand` (keep it again: a standby, once the
 * other process took it; at once it would take the lease straight back). The child reports
 * `yielded`, `standby` when it waits, and `connected` with how its lease was last woken. argv[2] is a JSON spec.
 */
interface Spec {
  url: string
  rootKey: string
  storeUrl: string
  session: string
}
const spec = childSpec() as Spec
console.log = console.info = console.warn = console.debug = () => {}
trustSimulator(Buffer.from(spec.rootKey, 'hex'))
const store = await openStore(spec.storeUrl)
const socket = { waWebSocketUrl: spec.url, logger: pino({ level: 'silent' }) as never, markOnlineOnConnect: false }

let current: Session | undefined
async function keep(): Promise<void> {
  const session = await startSession({ store, sessionId: spec.session, socket })
  current = session
  session.on('state', ({ state }) => {
    if (state === 'connected') process.send!({ connected: true, at: performance.timeOrigin + performance.now(), wake: session.stats().lease?.lastWake })
    if (state === 'standby') process.send!({ standby: true })
    if (state === 'failed') process.send!({ failed: session.health().reason.message })
  })
}

process.on('message', async (message: { yield?: boolean; stand?: boolean }) => {
  if (message.yield && current) {
    const session = current
    current = undefined
    await session.stop()
    process.send!({ yielded: true })
  }
  if (message.stand && !current) await keep()
})
await keep()
process.send!({ ready: true })
