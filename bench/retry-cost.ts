import type { AuthStore } from '../src/auth/auth-store.js'
import type { MessageStore } from '../src/store/message-store.js'
import { withOpen, type BenchConnection, type BenchTarget } from './targets.js'
import { fmt, median, printTable, uniqueId } from './util.js'

/**
 * The cost of the retry store (issue 21): each measured target against its "+ retry store" copy
 * in the same interleaved rounds. The copy keeps every sent message as the runtime does (one
 * awaited write of the message before it is encrypted and sent); the workloads call `record`
 * before each encrypt when the connection has it. Target: within 5% of msg/s.
 */
export const RETRY_BUDGET = 0.05
const MEASURED = new Set(['baileys-vault sqlite: (default)', 'baileys-vault postgres://', 'baileys-vault redis://'])
const SUFFIX = ' + retry store'

/** A connection that keeps sent messages: `record(session, jid, text)`. */
export type RecordingConnection = BenchConnection & { record?: (session: string, jid: string, text: string) => Promise<void> }

function withRetryStore(target: BenchTarget): BenchTarget {
  return withOpen({
    name: `${target.name}${SUFFIX}`,
    kind: target.kind,
    durability: `${target.durability}; sent messages kept in the retry store`,
    async create() {
      const backend = await target.create()
      return {
        ...backend,
        async connect(options) {
          const conn = await backend.connect(options)
          const stores = new Map<string, Promise<MessageStore>>()
          const messagesOf = (session: string) => {
            let m = stores.get(session)
            if (!m) stores.set(session, (m = (conn.store as AuthStore).useMessageStore(session)))
            return m
          }
          const recording: RecordingConnection = {
            ...conn,
            record: async (session, jid, text) => (await messagesOf(session)).recordMessage({ jid, id: uniqueId(), message: { conversation: text } })
          }
          return recording
        }
      }
    }
  })
}

/** `targets` with each measured target followed by its "+ retry store" copy. */
export const withRetryVariants = (targets: BenchTarget[]): BenchTarget[] => targets.flatMap(t => (MEASURED.has(t.name) ? [t, withRetryStore(t)] : [t]))

export function printRetryCost(targets: BenchTarget[], msgPerSecond: Map<string, number[]>): void {
  const pairs = targets.flatMap(t => {
    const on = targets.find(o => o.name === `${t.name}${SUFFIX}`)
    return on ? [{ off: t, on }] : []
  })
  if (pairs.length === 0) return
  const percent = (share: number) => `${(share * 100).toFixed(1)}%`
  printTable(
    ['store', 'msg/s retry store off', 'msg/s on', 'cost (median of rounds)', 'range over rounds', 'target'],
    pairs.map(({ off, on }) => {
      const without = msgPerSecond.get(off.name)!
      const withStore = msgPerSecond.get(on.name)!
      const costs = without.map((w, round) => 1 - withStore[round] / w)
      const cost = median(costs)
      return [
        off.name,
        fmt(median(without)),
        fmt(median(withStore)),
        percent(cost),
        `${percent(Math.min(...costs))} .. ${percent(Math.max(...costs))}`,
        `<= ${RETRY_BUDGET * 100}% ${cost <= RETRY_BUDGET ? 'met' : 'NOT met'}`
      ]
    })
  )
  console.log('(the "+ retry store" copy keeps each sent message with one awaited write before its encrypt, as the runtime does before a send)\n')
}
