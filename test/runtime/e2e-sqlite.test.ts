/** The session runtime end to end on SQLite (see helpers/runtime-suite.ts). */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runtimeSuite } from '../helpers/runtime-suite.js'

runtimeSuite('SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vault-runtime-sqlite-'))
  return { url: `sqlite:${join(dir, 'wa.db')}`, cleanup: async () => rmSync(dir, { recursive: true, force: true }) }
})
