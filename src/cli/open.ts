import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { VaultError } from '../core/errors.js'
import { parseStoreUrl, redactUrl } from '../core/url.js'
import { openStore } from '../open-store.js'
import { encryptionFromEnv } from '../codec/seal.js'
import type { AuthStore as Store } from '../auth/auth-store.js'
import type { CommandContext } from './command.js'
import { firstTime } from '../store/warn-once.js'
import { foreignStoreError } from '../drivers/read-only.js'

export interface CliOpenOptions {
  /**
   * The store is read from (ls, inspect, doctor, the source of migrate and backup): a file or
   * folder that does not exist is an error, instead of silently creating an empty store.
   */
  mustExist?: boolean
  /**
   * The command only reads (ls, inspect, doctor, backup, the source of migrate): the store is
   * opened read-only, so nothing in it is created, replayed or deleted, and a backend that is
   * not a baileys-vault store is refused. Implies mustExist.
   */
  readOnly?: boolean
}

/**
 * The one place the CLI opens stores: every command goes through here, so store-wide options
 * (e.g. the encryption key from BAILEYS_VAULT_KEY in ctx.env) are applied the same way everywhere.
 */
export async function openCliStore(url: string, ctx: CommandContext, options: CliOpenOptions = {}): Promise<Store> {
  const { kind, target } = parseStoreUrl(url)
  // Another project's store is only read: a command that writes is refused before anything opens.
  if (kind === 'import' && !options.readOnly) throw foreignStoreError(redactUrl(url))
  if ((options.mustExist || options.readOnly) && (kind === 'sqlite' || kind === 'file') && target !== ':memory:' && !existsSync(target)) {
    throw new VaultError('NOT_FOUND', `${redactUrl(url)} does not exist. Check the path (relative paths are relative to ${process.cwd()}).`)
  }
  const store = await openStore(url, { encryption: encryptionFromEnv(ctx.env), readOnly: options.readOnly })
  // Unsafe backend settings (Redis without AOF): one stderr line per process, whatever the command.
  for (const warning of store.warnings()) if (firstTime(warning)) ctx.stderr.write(`warning: ${warning}\n`)
  return store
}

/** Two URLs naming the same backend (a migrate onto itself would destroy the source with --overwrite). */
export function sameStore(a: string, b: string): boolean {
  const pa = parseStoreUrl(a)
  const pb = parseStoreUrl(b)
  if (pa.kind !== pb.kind) return false
  if (pa.kind === 'memory') return pa.target !== '' && pa.target === pb.target
  if (pa.kind === 'sqlite' || pa.kind === 'file') return resolvePath(pa.target) === resolvePath(pb.target)
  return pa.target === pb.target
}

const resolvePath = (p: string) => (p === ':memory:' ? `:memory:${Math.random()}` : resolve(p))
