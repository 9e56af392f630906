import type { SocketConfig } from '../core/baileys.js'

/** Baileys' logger interface, silent: for Signal repositories that run without a socket (contacts, tests, benchmarks). */
export type BaileysLogger = Parameters<SocketConfig['makeSignalRepository']>[1]

export const silentLogger: BaileysLogger = {
  level: 'silent',
  child: () => silentLogger,
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {}
}
