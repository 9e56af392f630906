/**
 * Child process of the SQLite power-cut test, run under the fsync-image.c shim (LD_PRELOAD), for
 * a disk that breaks: `sessions` write `before` rounds of values at once, then the shim is told
 * to fail every flush of the WAL with EIO (<database>.fail-flushes), and they try `after` rounds
 * more. Then the disk recovers: the store is closed and opened again, each session's value is
 * read, and one more write is made. argv: <database path> <options as JSON> <sessions> <before>
 * <after>. Prints one JSON line: each write after the break and how it ended (its error code and
 * message), the WAL's size at the first refusal and at the end, the shim's image taken when the
 * disk broke (<database>.cut-ok) and after the last refusal (<database>.cut-broken), how closing
 * the broken store ended, and what the reopened store read and wrote.
 */
import { existsSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { openStore } from '../../src/open-store.js'
import { VaultError } from '../../src/core/errors.js'
import { assertShimLoaded, keepShimImage } from './durable-images.js'

const [path, json, sessionsArg, beforeArg, afterArg] = process.argv.slice(2)
if (!path || !json) throw new Error('usage: failing-disk-child <database> <options JSON> <sessions> <before> <after>')
assertShimLoaded()
const options = JSON.parse(json)
const sessions = Array.from({ length: Number(sessionsArg) }, (_, s) => `s${s}`)
const walSize = () => (existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0)
const set = (keys: { set(data: object): Promise<void> }, value: string) => keys.set({ session: { 'peer.0': { value } } })
/** The value `set` last wrote for `session`, as `store` reads it. */
const valueOf = async (store: Awaited<ReturnType<typeof openStore>>, session: string) =>
  ((await store.readKeys(session, 'session', ['peer.0'])).get('peer.0') as { value?: string } | undefined)?.value

const store = await openStore(`sqlite:${path}`, options)
const auths = await Promise.all(sessions.map(s => store.useAuthState(s)))
for (const auth of auths) await auth.saveCreds()
for (let round = 0; round < Number(beforeArg); round++) await Promise.all(auths.map(({ state }) => set(state.keys, `before ${round}`)))
keepShimImage(path, 'cut-ok')

writeFileSync(`${path}.fail-flushes`, '') // the disk breaks: every flush of the WAL fails with EIO
const refused: Array<{ session: string; value: string; code?: string; message?: string }> = []
let walAtFirstRefusal: number | undefined
for (let round = 0; round < Number(afterArg); round++) {
  const value = `after ${round}`
  const ended = await Promise.allSettled(auths.map(({ state }) => set(state.keys, value)))
  ended.forEach((end, s) => {
    const err = end.status === 'rejected' ? (end.reason as Error) : undefined
    refused.push({ session: sessions[s]!, value, code: err instanceof VaultError ? err.code : err ? String(err) : undefined, message: err?.message })
  })
  walAtFirstRefusal ??= refused.some(r => r.code) ? walSize() : undefined
}
const walAtEnd = walSize()
keepShimImage(path, 'cut-broken')
let closed = 'closed'
try {
  await store.close()
} catch (err) {
  closed = `close failed: ${(err as { code?: string }).code ?? (err as Error).message}`
}

rmSync(`${path}.fail-flushes`) // the disk recovers; the store is opened again
const reopened = await openStore(`sqlite:${path}`, options)
const read: Record<string, unknown> = {}
for (const s of sessions) read[s] = await valueOf(reopened, s)
const again = await reopened.useAuthState(sessions[0]!)
await set(again.state.keys, 'recovered')
const readBack = await valueOf(reopened, sessions[0]!)
await reopened.close()
process.stdout.write(`${JSON.stringify({ refused, walAtFirstRefusal, walAtEnd, closed, read, readBack })}\n`)
