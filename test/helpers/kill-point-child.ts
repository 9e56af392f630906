/**
 * Child process of test/migrate-kill-points.test.ts: migrates one session into a SQLite store
 * and blocks (synchronously, so nothing else runs) at one point of its writes until it is
 * SIGKILLed: `before N` (write N not started) or `after N` (write N committed).
 * argv: <from url> <to url> <session> <before|after> <N> [unmarked]
 * `unmarked` (the test's control): the writes lose their WriteBatch.copy, i.e. a copy in place
 * that is not hidden, which the test must catch as a half-made session.
 */
import { writeSync } from 'node:fs'
import { openStore } from '../../src/open-store.js'
import { migrate } from '../../src/tools/migrate.js'

const [from, to, session, when, at, unmarked] = process.argv.slice(2)
if (!from || !to || !session) throw new Error('usage: kill-point-child <from> <to> <session> [before|after <n>] [unmarked]')
const destination = await openStore(to)
const pause = (where: string) => {
  writeSync(1, `paused ${where}\n`)
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0) // blocks until the kill
}
let writes = 0
const writeRaw = destination.writeRaw.bind(destination)
destination.writeRaw = (s, batch, settle) => {
  const n = ++writes
  if (when === 'before' && n === Number(at)) pause(`before ${n}`)
  const written = writeRaw(s, unmarked ? { ...batch, copy: undefined } : batch, settle)
  return when === 'after' && n === Number(at) ? written.then(() => pause(`after ${n}`)) : written
}
await migrate(await openStore(from), destination, { sessions: [session], batchSize: 1000, leaseTtlMs: 500 })
writeSync(1, `finished after ${writes} writes\n`)
