/**
 * Child process of test/tools/staging-drop-rename.servers.test.ts: migrates one session and, once some batches are
 * committed on the target, says "copied" and blocks (synchronously, inside the progress
 * callback) until it is SIGKILLed: a migrate killed half-way.
 * argv: migrate|restore <from url | backup file> <to url> <session> <target session> [overwrite]
 */
import { writeSync } from 'node:fs'
import { openStore } from '../../src/open-store.js'
import { migrate } from '../../src/tools/migrate.js'
import { restore } from '../../src/tools/restore.js'
import type { ToolProgress } from '../../src/tools/progress.js'

const [mode, from, to, session, target, overwrite] = process.argv.slice(2)
if (!from || !to || !session || !target) throw new Error('usage: staging-child migrate|restore <from> <to url> <session> <target session> [overwrite]')
const destination = await openStore(to)
const copyPhase = mode === 'restore' ? 'write' : 'copy'
const options = {
  sessions: [session],
  rename: { [session]: target },
  overwrite: overwrite === 'overwrite',
  batchSize: 100,
  leaseTtlMs: 500, // the killed run's lease expires soon, so the rerun can take it with force
  onProgress: (p: ToolProgress) => {
    if (p.phase !== copyPhase || p.done === 0) return
    writeSync(1, `copied ${p.done}\n`)
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0) // blocks until the kill
  }
}
if (mode === 'restore') await restore(from, destination, options)
else await migrate(await openStore(from), destination, options)
writeSync(1, 'finished\n')
