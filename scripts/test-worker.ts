/**
 * One worker of scripts/run-tests.ts, started inside scripts/with-test-servers.sh (so its
 * environment names its own servers). Prints `ready`, reads a test file per line on stdin, runs
 * it alone in `node --test`, and prints its result as one JSON line; ends when stdin closes.
 */
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'

function runFile(file: string): Promise<{ file: string; code: number; seconds: number; output: string }> {
  const started = process.hrtime.bigint()
  return new Promise(done => {
    const child = spawn(process.execPath, ['--test', '--test-reporter=spec', file], { stdio: ['ignore', 'pipe', 'pipe'] })
    const chunks: Buffer[] = []
    child.stdout.on('data', (c: Buffer) => chunks.push(c))
    child.stderr.on('data', (c: Buffer) => chunks.push(c))
    child.on('close', (code, signal) =>
      done({ file, code: code ?? (signal ? 128 : 1), seconds: Number(process.hrtime.bigint() - started) / 1e9, output: Buffer.concat(chunks).toString('utf8') })
    )
  })
}

process.stdout.write('ready\n')
for await (const line of createInterface({ input: process.stdin })) {
  const file = line.trim()
  if (file) process.stdout.write(`${JSON.stringify(await runFile(file))}\n`)
}
