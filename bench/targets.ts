import { initAuthCreds, useMultiFileAuthState, type AuthenticationState } from '@whiskeysockets/baileys'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openStore, type OpenStoreOptions } from '../src/store/open-store.js'

/** An auth state with its saveCreds, however the target stores it. */
export interface BenchAuth {
  state: AuthenticationState
  saveCreds: () => Promise<void>
}

export interface BenchTarget {
  name: string
  durability: string
  /** Opens a fresh, empty backend; `auth(session)` gives each device its state. */
  open(): Promise<{ auth(session: string): Promise<BenchAuth>; close(): Promise<void> }>
}

const tempDir = () => mkdtempSync(join(tmpdir(), 'vault-bench-'))

/** The ceiling: values kept as objects in a Map, no encoding, no I/O. */
export const plainMemory: BenchTarget = {
  name: 'in-memory (plain Map)',
  durability: 'none',
  async open() {
    return {
      async auth() {
        const data = new Map<string, any>()
        const keys = {
          async get(type: string, ids: string[]) {
            const out: Record<string, any> = {}
            for (const id of ids) {
              const v = data.get(`${type}/${id}`)
              if (v !== undefined) out[id] = v
            }
            return out
          },
          async set(set: Record<string, Record<string, any>>) {
            for (const type in set) for (const id in set[type]) set[type][id] == null ? data.delete(`${type}/${id}`) : data.set(`${type}/${id}`, set[type][id])
          }
        }
        return { state: { creds: initAuthCreds(), keys } as AuthenticationState, saveCreds: async () => {} }
      },
      async close() {}
    }
  }
}

export const baileysMultiFile: BenchTarget = {
  name: "Baileys' useMultiFileAuthState",
  durability: 'none (writeFile, no fsync, not atomic)',
  async open() {
    const dir = tempDir()
    return {
      auth: session => useMultiFileAuthState(join(dir, session)),
      async close() {
        rmSync(dir, { recursive: true, force: true })
      }
    }
  }
}

/** Any baileys-vault store URL; `makeUrl` gets a fresh temp dir for file-based stores. */
export function vaultTarget(name: string, durability: string, makeUrl: (dir: string) => string, options: OpenStoreOptions = {}): BenchTarget {
  return {
    name,
    durability,
    async open() {
      const dir = tempDir()
      const store = await openStore(makeUrl(dir), options)
      return {
        async auth(session) {
          const { state, saveCreds } = await store.useAuthState(session)
          return { state, saveCreds }
        },
        async close() {
          await store.close()
          rmSync(dir, { recursive: true, force: true })
        }
      }
    }
  }
}

/** Every target this machine can run; server targets only when their URL is set. */
export function allTargets(): BenchTarget[] {
  const targets: BenchTarget[] = [
    plainMemory,
    vaultTarget('baileys-vault memory:', 'none', () => 'memory:'),
    baileysMultiFile,
    vaultTarget('baileys-vault sqlite: (default)', 'WAL, synchronous=FULL (fsync per commit)', dir => `sqlite:${join(dir, 'b.db')}`),
    vaultTarget('baileys-vault sqlite: durability normal', 'WAL, synchronous=NORMAL (crash-safe, not power-loss-safe)', dir => `sqlite:${join(dir, 'b.db')}`, {
      sqlite: { durability: 'normal' }
    })
  ]
  return targets
}
