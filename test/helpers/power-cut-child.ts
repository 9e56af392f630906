/**
 * Child process of the SQLite power-cut test, run under the fsync-image.c shim (LD_PRELOAD): the
 * shim keeps, at each flush of the WAL, the files a power cut would leave. argv: <database path>
 * <options as JSON> <sessions> <rounds> <alone> [<sends>]. Writes `rounds` values per session, all
 * sessions at once, then `alone` values of the first session one at a time, then `sends` sends of
 * the first session in Baileys' order, recorded by the retry store (the record, then the keys of
 * the send); at the instant each write or send resolves, copies the shim's image to
 * <database>.cut-<n> (and -wal). Prints one JSON line: the cuts (n, session, value, the sent
 * message's id), the flushes JavaScript made in each write phase (fs.fdatasyncSync inline,
 * fs.fdatasync on the thread pool: the others were made by SQLite inside COMMIT), and the flushes
 * of the WAL during the sends (the shim's count: JavaScript's and SQLite's).
 */
import { existsSync, statSync } from 'node:fs'
import { openStore } from '../../src/open-store.js'
import type { SendingSocket } from '../../src/store/message-store.js'
import { POWER_CUT_CONTACT, assertShimLoaded, flushes, keepShimImage, watchFlushes } from './durable-images.js'

const [path, json, sessionsArg, roundsArg, aloneArg, sendsArg] = process.argv.slice(2)
if (!path || !json) throw new Error('usage: power-cut-child <database> <options JSON> <sessions> <rounds> <alone> [<sends>]')
const sessions = Number(sessionsArg)
const rounds = Number(roundsArg)
const alone = Number(aloneArg)
const sends = Number(sendsArg ?? 0)

assertShimLoaded()
watchFlushes()
const cuts: Array<{ n: number; session: string; value: string; sent?: string }> = []
/** A power cut now: the shim's image as of the last flush of the WAL (none yet: nothing survives). */
const cut = (session: string, value: string, sent?: string) => {
  const n = cuts.length
  keepShimImage(path, `cut-${n}`)
  cuts.push({ n, session, value, sent })
}
/** The flushes JavaScript made during `phase`. */
async function counted(phase: () => Promise<void>): Promise<{ inline: number; threadPool: number }> {
  const before = { ...flushes }
  await phase()
  return { inline: flushes.inline - before.inline, threadPool: flushes.threadPool - before.threadPool }
}

const store = await openStore(`sqlite:${path}`, JSON.parse(json))
const auths: Array<Awaited<ReturnType<typeof store.useAuthState>>> = []
for (let s = 0; s < sessions; s++) {
  const auth = await store.useAuthState(`s${s}`)
  await auth.saveCreds()
  auths.push(auth)
}
const together = await counted(async () => {
  for (let round = 0; round < rounds; round++) {
    const value = `round ${round}`
    await Promise.all(auths.map(({ state }, s) => state.keys.set({ session: { 'peer.0': { value } as never } }).then(() => cut(`s${s}`, value))))
  }
})
const lone = await counted(async () => {
  for (let n = 0; n < alone; n++) {
    const value = `alone ${n}`
    await auths[0]!.state.keys.set({ session: { 'peer.0': { value } as never } })
    cut('s0', value)
  }
})
const flushCount = () => (existsSync(`${path}.image-flushes`) ? statSync(`${path}.image-flushes`).size : 0)
const flushesBefore = flushCount()
if (sends > 0) {
  const messages = await store.useMessageStore('s0')
  const keys = auths[0]!.state.keys
  const sock: SendingSocket = {
    sendMessage: async () => undefined,
    relayMessage: async (jid, message) => {
      await keys.set({ session: { 'peer.0': { value: message.conversation } as never } })
      return ''
    }
  }
  messages.record(sock)
  for (let n = 0; n < sends; n++) {
    await sock.relayMessage(POWER_CUT_CONTACT, { conversation: `send ${n}` }, { messageId: `SEND${n}` })
    cut('s0', `send ${n}`, `SEND${n}`)
  }
}
const sendFlushes = flushCount() - flushesBefore
await store.close()
process.stdout.write(`${JSON.stringify({ cuts, together, lone, sendFlushes })}\n`)
