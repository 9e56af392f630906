/**
 * Child process of test/staging.test.ts: migrates one session and, once some batches are
 * committed on the target, says "copied" and blocks (synchronously, inside the progress
 * callback) until it is SIGKILLed: a migrate killed half-way.
 * argv: <from url> <to url> <session> <target session>
 */
import { writeSync } from 'node:fs'
import { openStore } from '../../src/store/open-store.js'
import { migrate } from '../../src/tools/migrate.js'

const [from, to, session, target] = process.argv.slice(2)
const source = await openStore(from)
const destination = await openStore(to)
await migrate(source, destination, {
  sessions: [session],
  rename: { [session]: target },
  batchSize: 100,
  onProgress: p => {
    if (p.phase !== 'copy' || p.done === 0) return
    writeSync(1, `copied ${p.done}\n`)
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0) // blocks until the kill
  }
})
writeSync(1, 'finished\n')
