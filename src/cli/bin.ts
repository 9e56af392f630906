#!/usr/bin/env node
import { buildCli } from './build-cli.js'
import { silenceLibsignalSessionDumps } from '../runtime/quiet-libsignal.js'

silenceLibsignalSessionDumps()

/**
 * The command has finished (a run or demo has stopped gracefully and drained its writes). Baileys
 * can leave query timers of up to a minute behind an ended socket; they hold nothing of ours, so
 * the process leaves after a short grace for output to flush instead of waiting for them.
 */
const leave = (code: number) => {
  process.exitCode = code
  setTimeout(() => process.exit(code), 2_000).unref()
}

buildCli(process.argv.slice(2)).then(leave, err => {
  process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`)
  leave(2)
})
