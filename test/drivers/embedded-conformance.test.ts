import Database from 'better-sqlite3'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createMemoryDriver } from '../../src/drivers/memory.js'
import { createSqliteDriver } from '../../src/drivers/sqlite.js'
import { driverConformance } from '../../src/testing/index.js'

driverConformance('memory', async () => {
  const name = `conformance-${process.pid}-${Date.now()}`
  // The raw reader for memory is a second driver on the same named store: the only other view.
  const peek = createMemoryDriver({ name })
  return {
    open: async () => createMemoryDriver({ name }),
    openReadOnly: async () => createMemoryDriver({ name, readOnly: true }),
    snapshot: false,
    raw: {
      creds: s => peek.getCreds(s),
      key: async (s, t, id) => (await peek.get(s, t, [id])).get(id),
      countKeys: async s => {
        let n = 0
        for await (const _ of peek.list(s)) n++
        return n
      }
    }
  }
})

driverConformance('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vault-sqlite-'))
  const path = join(dir, 'store.db')
  const open = () => createSqliteDriver({ path })
  await (await open()).close() // creates the schema so the raw connection can open it
  const raw = new Database(path, { readonly: true })
  return {
    open,
    openReadOnly: () => createSqliteDriver({ path, readOnly: true }),
    snapshot: true,
    raw: {
      creds: async s => (raw.prepare('SELECT value FROM vault_creds WHERE session = ?').pluck().get(s) as Buffer | undefined) ?? undefined,
      key: async (s, t, id) =>
        (raw.prepare('SELECT value FROM vault_keys WHERE session = ? AND type = ? AND id = ?').pluck().get(s, t, id) as Buffer | undefined) ?? undefined,
      countKeys: async s => raw.prepare('SELECT COUNT(*) FROM vault_keys WHERE session = ?').pluck().get(s) as number
    },
    cleanup: async () => {
      raw.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }
})
