import { openStore } from '../../src/open-store.js'
import { startSession, type StartSessionOptions } from '../../src/runtime/index.js'
import type { Simulator } from '../../src/sim/index.js'
import { silentLogger } from './sim-client.js'

/** Links every session once in this process (QR scanned by the simulated phone), then stops it (the lease is released). Returns each one's device JID. */
export async function linkSessions(options: { url: string; ids: string[]; sim: Simulator; socket?: StartSessionOptions['socket'] }): Promise<string[]> {
  const { url, ids, sim } = options
  const store = await openStore(url)
  const jids: string[] = []
  try {
    for (const sessionId of ids) {
      const session = await startSession({
        store,
        sessionId,
        socket: options.socket ?? { waWebSocketUrl: sim.url, logger: silentLogger as never, markOnlineOnConnect: false }
      })
      let linked: Promise<{ jid: string }> | undefined
      session.on('qr', qr => void (linked ??= sim.phone.scan(qr)))
      await new Promise<void>(resolve => session.on('state', ({ state }) => state === 'connected' && resolve()))
      jids.push((await linked!).jid)
      await session.stop()
    }
  } finally {
    await store.close()
  }
  return jids
}
