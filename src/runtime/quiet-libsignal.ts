/* eslint-disable no-console -- this file exists to filter console output */
/**
 * libsignal (Baileys' Signal implementation) prints whole session records with `console.info`
 * and `console.warn` ("Closing session: SessionEntry { … privKey … }"): private ratchet keys in a
 * terminal or a log collector. startSession and createRuntime drop exactly those calls for every
 * user (option `silenceLibsignal: false` keeps them), the CLI does too, and a bot that uses
 * useAuthState alone calls this from the package root. Nothing else written to the console is
 * touched.
 */
const LIBSIGNAL_SECRET_LINES = ['Closing session:', 'Opening session:', 'Removing old closed session:', 'Session already closed', 'Session already open']

let installed = false

export function silenceLibsignalSessionDumps(): void {
  if (installed) return
  installed = true
  for (const method of ['info', 'warn', 'log'] as const) {
    const original = console[method].bind(console)
    console[method] = (...args: unknown[]) => {
      if (typeof args[0] === 'string' && LIBSIGNAL_SECRET_LINES.some(prefix => (args[0] as string).startsWith(prefix))) return
      original(...args)
    }
  }
}
