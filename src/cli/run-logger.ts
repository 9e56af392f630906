import pino, { type Logger } from 'pino'

/** Log levels `--log-level` accepts (pino's). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

/**
 * The CLI's structured logs: pino on stderr (stdout carries --json events), one child per
 * session (the runtime makes it), with creds, keys and message bodies redacted wherever they
 * would appear. Baileys' own logger is the same stream at a quieter level: it logs a lot.
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
  const quieter = LOG_LEVELS.indexOf(level as (typeof LOG_LEVELS)[number]) < LOG_LEVELS.indexOf('error') ? level : 'error'
  return { logger, baileysLogger: logger.child({ from: 'baileys' }, { level: quieter }) }
}
