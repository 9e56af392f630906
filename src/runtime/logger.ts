/** The logger shape the runtime needs: pino's (Baileys users already pass one in). */
export interface RuntimeLogger {
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
  child?(bindings: Record<string, unknown>): RuntimeLogger
}

const noop = () => {}
export const silentLogger: RuntimeLogger = { debug: noop, info: noop, warn: noop, error: noop }

/** One child per session when the logger supports it; never log creds, keys or message text. */
export const sessionLogger = (logger: RuntimeLogger, sessionId: string): RuntimeLogger => logger.child?.({ session: sessionId }) ?? logger
