import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { invalidArgument } from '../core/errors.js'

/** What a `--bot` module exports by default: called with every new socket of a session. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a user's module: its socket and session types are theirs
export type BotHandler<Socket = any, Session = any> = (sock: Socket, session: Session) => unknown

/**
 * Loads a bot module (`run --bot ./bot.mjs`). A missing file, a module that fails to load or one
 * without a default-exported function is refused before any session starts, so a typo never
 * leaves a bot running without its handler.
 */
export async function loadBot(path: string): Promise<BotHandler> {
  const file = resolve(path)
  if (!existsSync(file)) throw invalidArgument(`Bot module ${file} does not exist. Pass the path of a module whose default export is (sock, session) => void.`)
  let mod: { default?: unknown }
  try {
    mod = await import(pathToFileURL(file).href)
  } catch (cause) {
    throw Object.assign(invalidArgument(`Bot module ${file} could not be loaded: ${(cause as Error).message}`), { cause })
  }
  if (typeof mod.default !== 'function') {
    throw invalidArgument(`Bot module ${file} has no default-exported function. Write: export default (sock, session) => { sock.ev.on('messages.upsert', …) }`)
  }
  return mod.default as BotHandler
}
