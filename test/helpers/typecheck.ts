import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository (build/test/helpers is three below it). */
export const ROOT = fileURLToPath(new URL('../../..', import.meta.url))

/**
 * Type-checks TypeScript files as a user's project would: written into a folder under the
 * repository's .tmp/, so `import … from 'baileys-vault'` resolves through package.json
 * "exports" to the published types in dist/. Returns tsc's output when it fails, else undefined.
 */
export function typecheck(files: Record<string, string>, prefix: string): string | undefined {
  mkdirSync(join(ROOT, '.tmp'), { recursive: true })
  const dir = mkdtempSync(join(ROOT, '.tmp', prefix))
  for (const [name, code] of Object.entries(files)) writeFileSync(join(dir, name), code)
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] },
      include: ['*.ts']
    })
  )
  try {
    execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { encoding: 'utf8' })
    return undefined
  } catch (err) {
    return String((err as { stdout?: string }).stdout ?? err)
  }
}
