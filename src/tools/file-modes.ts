import { readdirSync, statSync, type Stats } from 'node:fs'
import { join } from 'node:path'
import { parseStoreUrl } from '../core/url.js'
import type { Finding } from './findings.js'

const SAMPLE = 5
/** Group or others may read (or write) it. */
const OPEN_BITS = 0o077

const stat = (path: string): Stats | undefined => {
  try {
    return statSync(path)
  } catch {
    return undefined
  }
}

/** The files of a store on disk: the SQLite database with its -wal/-shm, or a folder's files. */
function storeFiles(label: string): string[] {
  let parsed
  try {
    parsed = parseStoreUrl(label)
  } catch {
    return [] // a store opened on a Driver object: no path known
  }
  const { kind, target } = parsed
  if (kind === 'sqlite') return target === ':memory:' ? [] : [target, `${target}-wal`, `${target}-shm`]
  if (kind !== 'file') return []
  const files: string[] = []
  const walk = (dir: string, depth: number) => {
    let names: string[]
    try {
      names = readdirSync(dir)
    } catch {
      return
    }
    for (const name of names) {
      const path = join(dir, name)
      const s = stat(path)
      if (s?.isFile()) files.push(path)
      else if (s?.isDirectory() && depth < 2) walk(path, depth + 1)
    }
  }
  walk(target, 0)
  return files
}

/**
 * Store files that group or others can read: they hold the account's private keys, and anyone
 * who reads them can impersonate the linked device. baileys-vault creates its files 0600; files
 * written by Baileys itself (useMultiFileAuthState) or copied with a umask of 022 are 0644.
 */
export function checkFileModes(label: string): Finding[] {
  const modes = storeFiles(label).flatMap(path => {
    const s = stat(path)
    return s?.isFile() && (s.mode & OPEN_BITS) !== 0 ? [{ path, mode: s.mode }] : []
  })
  const [first] = modes
  if (first === undefined) return []
  const open = modes.map(m => m.path)
  const shown = open.slice(0, SAMPLE)
  const quote = (p: string) => `'${p.replace(/'/g, `'\\''`)}'`
  const fix = parseStoreUrl(label).kind === 'file' ? `chmod -R go-rwx ${quote(parseStoreUrl(label).target)}` : `chmod 600 ${open.map(quote).join(' ')}`
  return [
    {
      severity: 'warning',
      code: 'FILE_READABLE_BY_OTHERS',
      count: open.length,
      ids: shown,
      message: `${open.length === 1 ? `${first.path} is` : `${open.length} store files are`} readable by group or others (mode ${(first.mode & 0o777).toString(8)}${open.length > 1 ? ', …' : ''}): they hold the account's private keys, and anyone who reads them can impersonate the linked device.`,
      fix
    }
  ]
}
