import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { realClientSuite } from '../helpers/real-client-suite.js'

let n = 0
realClientSuite('memory', async () => ({ url: `memory:real-client-${process.pid}-${++n}` }))
realClientSuite('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vault-rc-'))
  return { url: `sqlite:${join(dir, 'store.db')}`, cleanup: async () => rmSync(dir, { recursive: true, force: true }) }
})
