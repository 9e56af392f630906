import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { openStore } from '../../src/open-store.js'
import { encodeOptions, oneRound, openPair, setUpConversation } from './crash-conversation.js'
import type { StoreTarget } from './real-client-suite.js'
import { rawDriver } from './raw-driver.js'

const CHILD = fileURLToPath(new URL('./crash-child.js', import.meta.url))
export const CRASH_KILLS = Number(process.env.VAULT_CRASH_KILLS ?? 30)

/**
 * Starts the child, waits until it is in traffic (`ready`, or with `afterRound` its first
 * completed round, so a slow machine still sees progress), lets it run a random while, SIGKILLs it.
 */
function runAndKill(url: string, options: string, maxDelayMs: number, pairs: number, afterRound: boolean): Promise<{ rounds: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, url], {
      env: { ...process.env, VAULT_CRASH_OPTIONS: options, VAULT_CRASH_PAIRS: String(pairs) },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let out = ''
    let err = ''
    let timer: NodeJS.Timeout | undefined
    const deadline = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`crash child never became ready: ${err.slice(-2000)}`))
    }, 60_000)
    child.stdout.on('data', chunk => {
      out += chunk
      if (!timer && out.includes(afterRound ? '\nround ' : 'ready\n')) timer = setTimeout(() => child.kill('SIGKILL'), Math.random() * maxDelayMs)
    })
    child.stderr.on('data', chunk => (err += chunk))
    child.on('exit', (code, signal) => {
      clearTimeout(deadline)
      clearTimeout(timer)
      if (signal !== 'SIGKILL') return reject(new Error(`crash child exited by itself (code ${code}): ${err.slice(-2000)}`))
      resolve({ rounds: (out.match(/^round /gm) ?? []).length })
    })
  })
}

/**
 * SIGKILL a process in the middle of Signal traffic, many times; after every kill the store
 * opens and the conversation continues in both directions and in the group.
 */
export function crashSuite(name: string, makeTarget: () => Promise<StoreTarget>, kills = CRASH_KILLS, { pairs = 1 }: { pairs?: number } = {}): void {
  describe(`crash: ${name}`, () => {
    it(`${pairs > 1 ? `each of ${pairs} concurrent conversations` : 'the conversation'} continues after ${kills} SIGKILLs mid-traffic`, async t => {
      const target = await makeTarget()
      try {
        await setUpConversation(target.url, target.options ?? {}, pairs)
        const options = encodeOptions(target.options)
        let rounds = 0
        let killedMidRun = 0
        for (let i = 0; i < kills; i++) {
          // Every fifth kill waits for a finished round first; the others land anywhere.
          const run = await runAndKill(target.url, options, 400 * pairs, pairs, i % 5 === 0)
          rounds += run.rounds
          if (run.rounds > 0) killedMidRun++
          // After the kill: open, and both directions and the group still decrypt.
          const store = await openStore(target.url, target.options)
          try {
            for (let pair = 0; pair < pairs; pair++) {
              const { a, b } = await openPair(store, pair)
              await oneRound(a, b, 1_000_000 + i)
            }
          } finally {
            await store.close()
          }
        }
        if (target.options?.encryption) {
          // The encrypted repeat really ran encrypted, in the children too: every value is sealed.
          const store = await openStore(target.url, target.options)
          try {
            for (const session of ['a', 'b']) {
              const plain: string[] = []
              const creds = await rawDriver(store).getCreds(session)
              if (!creds || !store.protectionOf(creds).sealed) plain.push('creds')
              for await (const [type, id, bytes] of store.listRaw(session)) if (!store.protectionOf(bytes).sealed) plain.push(`${type} ${id}`)
              assert.deepEqual(plain, [], `session ${session}: values stored without encryption`)
            }
          } finally {
            await store.close()
          }
        }
        t.diagnostic(`${name}: ${kills} kills, ${rounds} rounds completed by the children, ${kills} recoveries verified`)
        assert.ok(rounds > 0, 'the children made progress before being killed')
        assert.ok(killedMidRun >= 1)
      } finally {
        await target.cleanup?.()
      }
    })
  })
}
