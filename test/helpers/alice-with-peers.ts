/**
 * The setup the two-client session tests share: a trusted simulator, a temporary folder, Alice
 * (a real Baileys client in this process) linked on her own SQLite store, and peers forked as
 * child processes (helpers/sim-peer-child.ts).
 *
 * After the tests, in this order: every peer child is SIGKILLed; Alice's client and the `clients`
 * a test handed over are ended, then her store and the `stores`; the simulator stops; the
 * folder goes.
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before } from 'node:test'
import type { AuthStore } from '../../src/auth/auth-store.js'
import { openStore } from '../../src/open-store.js'
import type { Simulator } from '../../src/sim/index.js'
import type { Client } from './sim-client.js'
import { forkPeer, type PeerChild } from './sim-peer-child.js'
import { linkPeer, type Peer } from './sim-peers.js'
import { useSimulator } from './use-simulator.js'

export interface AliceWithPeers {
  readonly sim: Simulator
  /** The temporary folder: Alice's store and the peers' stores. */
  readonly dir: string
  readonly alice: Peer
  /** Forks a peer child (forkPeer on this simulator); it is SIGKILLed after the tests. */
  startPeer(options: Omit<Parameters<typeof forkPeer>[0], 'sim'>): PeerChild
  /** Clients a test opened and leaves open: ended after the tests. */
  readonly clients: Client[]
  /** Stores a test opened and leaves open: closed after the tests. */
  readonly stores: AuthStore[]
}

export function useAliceWithPeers(options: { tmpPrefix: string }): AliceWithPeers {
  let dir: string | undefined
  let aliceStore: AuthStore | undefined
  let alice: Peer | undefined
  const children: ChildProcess[] = []
  const clients: Client[] = []
  const stores: AuthStore[] = []

  // Registered before useSimulator, so it runs while the simulator still listens.
  after(async () => {
    children.forEach(c => c.kill('SIGKILL'))
    for (const client of [alice?.client, ...clients]) await client?.end()
    for (const store of [aliceStore, ...stores]) await store?.close()
  })

  const sim = useSimulator()

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), options.tmpPrefix))
    aliceStore = await openStore(`sqlite:${join(dir, 'alice.db')}`)
    alice = await linkPeer({ sim, auth: await aliceStore.useAuthState('alice'), pushName: 'Alice' })
  })

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  const ready = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`useAliceWithPeers: ${what} is set up in before(); use it in a test`)
    return value
  }
  return {
    sim,
    get dir() {
      return ready(dir, 'the folder')
    },
    get alice() {
      return ready(alice, 'Alice')
    },
    startPeer: peerOptions => {
      const peer = forkPeer({ sim, ...peerOptions })
      children.push(peer.child)
      return peer
    },
    clients,
    stores
  }
}
