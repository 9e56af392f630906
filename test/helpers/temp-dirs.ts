/** Temporary folders of one test file: each made on demand, all removed once the file's tests (and their after hooks) are done. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after } from 'node:test'

/** Call at the top level of a test file: returns `tempDir()`, which makes a new folder named `<prefix>…`. */
export function useTempDirs(prefix: string): () => string {
  const made: string[] = []
  after(() => {
    for (const dir of made) rmSync(dir, { recursive: true, force: true })
  })
  return () => {
    const dir = mkdtempSync(join(tmpdir(), prefix))
    made.push(dir)
    return dir
  }
}
