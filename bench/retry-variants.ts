import type { AuthStore } from '../src/auth/auth-store.js'
import type { MessageStore, SendingSocket } from '../src/store/message-store.js'
import type { CpuPerMessage } from './cpu-meter.js'
import { withConnectionsWrapped, type BenchConnection, type BenchTarget } from './targets.js'
import { fmt, median, printTable, uniqueId } from './util.js'
import { must } from '../src/core/defined.js'

/**
 * The cost of the retry store (issue 21): each measured target against its "+ retry store" copy
 * in the same interleaved rounds. The copy keeps every sent message as the runtime does: each
 * encrypt runs inside a relayMessage wrapped by the retry store's record() (RecordingConnection). Target: within 5% of msg/s.
 */
export const RETRY_BUDGET = 0.05
export const MEASURED = new Set(['baileys-vault sqlite: (default)', 'baileys-vault postgres://', 'baileys-vault redis://'])
const SUFFIX = ' + retry store'

/**
 * A connection that keeps sent messages: `send(session, jid, text, encrypt)` runs `encrypt` as
 * the relayMessage of a socket wrapped by the retry store's record(): the record starts, then
 * the encrypt, and the send resolves once both are done (the runtime's path, joinNext included).
 */
export type RecordingConnection = BenchConnection & {
  send?: <T>(session: string, jid: string, text: string, encrypt: () => Promise<T>) => Promise<T>
}

/** A socket wrapped by record() once, whose relayMessage (Baileys' own, in the runtime) runs the current send's encrypt. */
type RecordedSocket = SendingSocket & { encrypt: () => Promise<unknown> }

async function recordedSocket(opening: Promise<MessageStore>): Promise<RecordedSocket> {
  const sock: RecordedSocket = {
    encrypt: () => Promise.reject(new Error('no send in progress')),
    sendMessage: async () => undefined,
    // Returns the encrypt's own promise (its result stands in for the relayed id): the stand-in
    // adds no promise of its own, as Baileys' relayMessage is there with the retry store off too.
    relayMessage: () => sock.encrypt() as Promise<string>
  }
  ;(await opening).record(sock)
  return sock
}

export function withRetryStore(target: BenchTarget): BenchTarget {
  return withConnectionsWrapped(target, { suffix: SUFFIX, durability: 'sent messages kept in the retry store' }, conn => {
    // As the runtime does at session start: the retry store opened beside the auth state, and record() once per socket.
    const sockets = new Map<string, RecordedSocket>()
    const recording: RecordingConnection = {
      ...conn,
      async auth(session, authOptions) {
        const auth = await conn.auth(session, authOptions)
        if (!sockets.has(session)) sockets.set(session, await recordedSocket((conn.store as AuthStore).useMessageStore(session)))
        return auth
      },
      send(session, jid, text, encrypt) {
        const sock = must(sockets.get(session), 'a session sends after its auth state was opened')
        sock.encrypt = encrypt
        // The stand-in relayMessage hands back the encrypt's result (see recordedSocket).
        return sock.relayMessage(jid, { conversation: text }, { messageId: uniqueId() }) as unknown as ReturnType<typeof encrypt>
      }
    }
    return recording
  })
}

/** `targets` with each measured target followed by its "+ retry store" copy. */
export const withRetryVariants = (targets: BenchTarget[]): BenchTarget[] => targets.flatMap(t => (MEASURED.has(t.name) ? [t, withRetryStore(t)] : [t]))

/**
 * The cost table: per store, 1 - on/off of msg/s per round (wall), and, when `cpu` is given,
 * on/off - 1 of CPU time per message per round: of the bench process, and of the process plus
 * the PostgreSQL/Redis server beside it (cpu-meter.ts). Medians of the rounds, with their range.
 * On a loaded machine the wall figure moves with other processes; the CPU figure far less.
 */
export function printRetryCost(targets: BenchTarget[], msgPerSecond: Map<string, number[]>, cpu?: Map<string, CpuPerMessage[]>): void {
  const pairs = targets.flatMap(t => {
    const on = targets.find(o => o.name === `${t.name}${SUFFIX}`)
    return on ? [{ off: t, on }] : []
  })
  if (pairs.length === 0) return
  const percent = (share: number) => `${(share * 100).toFixed(1)}%`
  const summary = (costs: number[]) => ({ median: median(costs), range: `${percent(Math.min(...costs))} .. ${percent(Math.max(...costs))}` })
  const verdict = (cost: number) => `${cost <= RETRY_BUDGET ? 'met' : 'NOT met'}`
  const rows = pairs.map(({ off, on }) => {
    const without = msgPerSecond.get(off.name)!
    const withStore = msgPerSecond.get(on.name)!
    const wall = summary(without.map((w, round) => 1 - must(withStore[round], 'interleaved runs both targets the same rounds') / w))
    const row = [off.name, fmt(median(without)), fmt(median(withStore)), percent(wall.median), wall.range, `${verdict(wall.median)}`]
    if (!cpu) return row
    const cpuOff = cpu.get(off.name)!
    const cpuOn = cpu.get(on.name)!
    const onIn = (round: number) => must(cpuOn[round], 'interleaved runs both targets the same rounds')
    const own = summary(cpuOff.map((c, round) => onIn(round).process / c.process - 1))
    const total = (c: CpuPerMessage) => c.process + c.server
    const withServer = summary(cpuOff.map((c, round) => total(onIn(round)) / total(c) - 1))
    return [
      ...row,
      `${fmt(median(cpuOff.map(c => c.process)))} / ${fmt(median(cpuOn.map(c => c.process)))}`,
      percent(own.median),
      own.range,
      `${fmt(median(cpuOff.map(total)))} / ${fmt(median(cpuOn.map(total)))}`,
      percent(withServer.median),
      withServer.range,
      verdict(Math.max(own.median, withServer.median))
    ]
  })
  const header = ['store', 'msg/s off', 'msg/s on', 'wall cost', 'wall range', `wall <= ${RETRY_BUDGET * 100}%`]
  const cpuHeader = [
    'CPU µs/msg off / on',
    'CPU cost',
    'CPU range',
    '+ server µs/msg off / on',
    '+ server cost',
    '+ server range',
    `CPU <= ${RETRY_BUDGET * 100}%`
  ]
  printTable(cpu ? [...header, ...cpuHeader] : header, rows)
  console.log(
    '(costs are medians of per-round ratios of interleaved rounds; "CPU": user + system time of the bench process per message; "+ server": with the PostgreSQL/Redis server processes, which share the cores; the "+ retry store" copy runs each encrypt inside a relayMessage wrapped by the retry store\'s record(), as the runtime does)\n'
  )
}
