import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { crashSuite } from '../helpers/crash-suite.js'

crashSuite('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vault-crash-'))
  return { url: `sqlite:${join(dir, 'store.db')}`, cleanup: async () => rmSync(dir, { recursive: true, force: true }) }
})
