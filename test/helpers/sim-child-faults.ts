/**
 * Test-only seams of the simulator's bot child (sim-child.ts), to make a crash window
 * deterministic instead of statistical:
 * - VAULT_SIM_TRACE=<file>: appends the order of what the bot does, one line each: a key commit
 *   landed (`commit <n> <types>`), its write resolved (`resolved <n>`), a stanza written to the
 *   socket (`sent <tag> <type>`), a stanza received (`recv <tag> <type>`). Key types and stanza
 *   tags only: no ids, keys or text.
 * - VAULT_SIM_KILL=commit:<n>: SIGKILLs the bot right after its n-th key commit with a Signal
 *   session in it landed, before the write resolved (for the shared flush: before its fdatasync).
 * - VAULT_SIM_KILL=send:<n>: SIGKILLs the bot right after its n-th outgoing message stanza was
 *   handed to the kernel, before anything else runs (Baileys commits the session it encrypted
 *   with only after the send).
 * - VAULT_SIM_POWER_CUT=<dir>: makes that kill a power cut: the store's SQLite files as of their
 *   last completed WAL flush (helpers/durable-images.ts) are written to <dir> before the SIGKILL,
 *   for the restart to open instead of the files the killed process left.
 * The trace is written synchronously, so it is complete up to the kill.
 */
import { createHash } from 'node:crypto'
import { mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs'
import { basename, join } from 'node:path'
import type { SignalDataSet } from '@whiskeysockets/baileys'
import { pino, type Logger } from 'pino'
import WebSocket from 'ws'
import type { VaultKeyStore } from '../../src/auth/auth-state.js'
import { flushes, watchFlushes } from './durable-images.js'

const traceFd = process.env.VAULT_SIM_TRACE ? openSync(process.env.VAULT_SIM_TRACE, 'a') : undefined
const [killAt, killNth] = (process.env.VAULT_SIM_KILL ?? '').split(':')
const killN = Number(killNth)

export const trace = (line: string): void => void (traceFd !== undefined && writeSync(traceFd, `${process.pid} ${line}\n`))

const powerCutDir = process.env.VAULT_SIM_POWER_CUT
if (powerCutDir) watchFlushes()

/** Writes what a power cut leaves of each SQLite database: its files as of the last WAL flush. */
function keepDurableImages(dir: string): void {
  mkdirSync(dir, { recursive: true })
  for (const [db, image] of flushes.last) {
    writeFileSync(join(dir, basename(db)), image.db)
    writeFileSync(join(dir, `${basename(db)}-wal`), image.wal)
  }
}

function die(why: string): never {
  trace(`SIGKILL ${why}`)
  if (powerCutDir) keepDurableImages(powerCutDir)
  process.kill(process.pid, 'SIGKILL')
  throw new Error('unreachable')
}

let sessionCommits = 0

/** A 4-hex-digit tag of a public key (base64): enough to tell ratchet keys apart in a trace. */
const tag = (b64: string | undefined) => (b64 ? createHash('sha256').update(b64).digest('hex').slice(0, 4) : '----')

interface SerializedChain {
  chainKey: { counter: number }
  chainType: number
}
interface SerializedSession {
  currentRatchet: { ephemeralKeyPair: { pubKey: string }; lastRemoteEphemeralKey: string }
  indexInfo: { closed: number }
  _chains: Record<string, SerializedChain>
}

/**
 * The open Signal session of a serialized record as public facts only: our ratchet key's tag and
 * its sending counter, the remote ratchet key's tag and its receiving counter (never a key).
 */
export function describeSession(record: unknown): string {
  const sessions = Object.values((record as { _sessions?: Record<string, SerializedSession> })?._sessions ?? {})
  const open = sessions.find(s => s.indexInfo.closed === -1)
  if (!open) return `no-open(${sessions.length})`
  const ours = open.currentRatchet.ephemeralKeyPair.pubKey
  const theirs = open.currentRatchet.lastRemoteEphemeralKey
  return `E${tag(ours)}/s${open._chains[ours]?.chainKey.counter ?? '-'} R${tag(theirs)}/r${open._chains[theirs]?.chainKey.counter ?? '-'}`
}

/** Each session as `@<address tag>:<open session>` (the address hashed too). */
const sessionsOf = (values: Record<string, unknown> | undefined) =>
  Object.entries(values ?? {})
    .map(([id, record]) => `@${tag(id)}:${record === null ? 'deleted' : describeSession(record)}`)
    .join(' ')

/** Traces each keys.set (and kills at `commit:<n>`) once the driver has it: SQLite commits on call. */
export function traceCommits(keys: VaultKeyStore): void {
  const set = keys.set.bind(keys)
  keys.set = (data: SignalDataSet) => {
    const types = Object.keys(data).filter(type => Object.keys(data[type as keyof SignalDataSet] ?? {}).length > 0)
    const n = types.includes('session') ? ++sessionCommits : 0
    const written = set(data)
    const label = `${n || '-'} ${types.join(',')}${n ? ` ${sessionsOf(data.session)}` : ''}`
    trace(`commit ${label}`)
    written.then(
      () => trace(`resolved ${label}`),
      () => trace(`failed ${label}`)
    )
    if (killAt === 'commit' && n === killN) die(`after commit ${n}`)
    return written
  }
  const get = keys.get.bind(keys)
  keys.get = ((type: string, ids: string[]) => {
    const read = get(type as 'session', ids)
    if (type === 'session' && traceFd !== undefined) void read.then(found => trace(`read session [${ids.map(tag).join(',')}] ${sessionsOf(found) || 'none'}`))
    return read
  }) as VaultKeyStore['get']
}

/** `<tag attr=...` of Baileys' 'xml send'/'xml recv' trace lines: the tag and its type/class only. */
const stanzaOf = (xml: string) => {
  const tag = /^<(\w+)/.exec(xml)?.[1] ?? '?'
  const type = /\s(?:type|class)='?"?(\w+)/.exec(xml.slice(0, 400))?.[1] ?? ''
  return `${tag} ${type}`.trim()
}

/** What the next WebSocket frame carries: sendNode logs a stanza, then writes its frame at once. */
let nextFrame: string | undefined
let sentMessages = 0

/**
 * A Baileys logger that outputs nothing and feeds the trace (and the `send:<n>` kill) from
 * Baileys' own 'xml send' / 'xml recv' lines.
 */
export function tracingLogger(): Logger {
  return pino({
    level: traceFd === undefined && killAt !== 'send' ? 'silent' : 'trace',
    hooks: {
      logMethod(args) {
        const [obj, msg] = args as unknown as [{ xml?: unknown; msg?: string }, string | undefined]
        const what = obj?.msg ?? msg
        if (typeof obj?.xml !== 'string') return
        if (what === 'xml send') nextFrame = stanzaOf(obj.xml)
        else if (what === 'recv xml') trace(`recv ${stanzaOf(obj.xml)}`)
      }
    }
  })
}

// Stanzas reach the socket through ws' send; its callback runs once the frame was written.
const originalSend = WebSocket.prototype.send
WebSocket.prototype.send = function (this: WebSocket, data: unknown, ...rest: unknown[]) {
  const frame = nextFrame
  nextFrame = undefined
  if (!frame) return (originalSend as (...a: unknown[]) => void).call(this, data, ...rest)
  const nth = frame.startsWith('message') ? ++sentMessages : 0
  const cb = typeof rest[rest.length - 1] === 'function' ? (rest.pop() as (err?: Error) => void) : undefined
  return (originalSend as (...a: unknown[]) => void).call(this, data, ...rest, (err?: Error) => {
    trace(`sent ${frame}${nth ? ` #${nth}` : ''}`)
    if (killAt === 'send' && nth === killN) die(`after sent message ${nth}`)
    cb?.(err)
  })
} as typeof WebSocket.prototype.send
