import pino, { type Logger } from 'pino'

/** Log levels `--log-level` accepts (pino's). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

/**
 * The CLI's structured logs: pino on stderr (stdout carries --json events), one child per
 * session (the runtime makes it), with creds, keys and message bodies redacted wherever they
 * would appear. Baileys' own logger is the same stream, at error when the level is warn or info
 * (it logs a lot), else at the level given.
 */
export function cliLoggers(level: string): { logger: Logger; baileysLogger: Logger } {
  const logger = pino(
    {
      level,
      base: undefined,
      redact: {
        paths: ['creds', '*.creds', 'keys', '*.keys', 'key', '*.key', 'message', '*.message.conversation', 'msg.message', 'qr', '*.qr', 'privKey', '*.privKey'],
        censor: '[redacted]'
      }
    },
    pino.destination({ fd: 2, sync: true })
  )
  // Baileys at warn or info floods the log, so it stays at error then; an explicit debug or trace
  // (or fatal, silent) is passed through: whoever asks for trace wants Baileys' trace too.
  const quieter = ['warn', 'info'].includes(level) ? 'error' : level
  return { logger, baileysLogger: logger.child({ from: 'baileys' }, { level: quieter }) }
}
