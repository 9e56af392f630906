#!/usr/bin/env node
import { buildCli } from './build-cli.js'

buildCli(process.argv.slice(2)).then(
  code => {
    process.exitCode = code
  },
  err => {
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exitCode = 2
  }
)
