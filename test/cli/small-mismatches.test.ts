/**
 * The small mismatches of issue 20, item 10, each where behaviour changed: --json events carry an
 * ISO time; a port in use is USAGE (exit 2); --log-level trace reaches Baileys' logger; a value
 * starting with a zero byte is CORRUPT_DATA, not a newer format; one signal delivered twice
 * (npx) is not a second signal.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createServer, type AddressInfo } from 'node:net'
import { describe, it } from 'node:test'
import { openEnvelope } from '../../src/codec/envelope.js'
import { isVaultError } from '../../src/core/errors.js'
import { cliLoggers } from '../../src/cli/run-logger.js'
import { sessionOutput } from '../../src/cli/session-output.js'
import { isRepeatDelivery } from '../../src/runtime/signals.js'
import { BIN } from '../helpers/run-child.js'

describe('small mismatches (issue 20)', () => {
  it('every --json event carries its time, ISO 8601 in UTC', () => {
    const lines: string[] = []
    const sink = { write: (s: string) => void lines.push(s) }
    const before = Date.now()
    sessionOutput({ stdout: sink, stderr: sink, json: true }).event({ event: 'fleet', capacity: 3 })
    const e = JSON.parse(lines[0] ?? '')
    assert.equal(e.event, 'fleet')
    assert.match(e.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
    assert.ok(Date.parse(e.time) >= before - 1000)
  })

  it('a port in use is a usage error: USAGE, exit 2', async () => {
    const taken = createServer()
    await new Promise<void>(resolve => taken.listen(0, '127.0.0.1', resolve))
    const port = (taken.address() as AddressInfo).port
    try {
      const child = spawn(process.execPath, [BIN, 'run', 'memory:', '--http', `127.0.0.1:${port}`, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      child.stdout.on('data', c => (out += c))
      const code = await new Promise(resolve => child.once('exit', resolve))
      assert.equal(code, 2)
      assert.equal(JSON.parse(out).error.code, 'USAGE')
    } finally {
      taken.close()
    }
  })

  it("--log-level trace and debug reach Baileys' logger; warn and info keep it at error", () => {
    assert.equal(cliLoggers('trace').baileysLogger.level, 'trace')
    assert.equal(cliLoggers('debug').baileysLogger.level, 'debug')
    assert.equal(cliLoggers('warn').baileysLogger.level, 'error')
    assert.equal(cliLoggers('info').baileysLogger.level, 'error')
    assert.equal(cliLoggers('silent').baileysLogger.level, 'silent')
  })

  it('a stored value starting with a zero byte is CORRUPT_DATA; another unknown format byte is UNSUPPORTED_FORMAT', () => {
    const where = () => 'session "s" pre-key "1"'
    assert.throws(
      () => openEnvelope(Buffer.from('\u0000\u0000{"a":1}'), where),
      err => isVaultError(err, 'CORRUPT_DATA') && /damaged/.test(err.message)
    )
    assert.throws(
      () => openEnvelope(Buffer.from('\u001f{}'), where),
      err => isVaultError(err, 'UNSUPPORTED_FORMAT') && /Upgrade/.test(err.message)
    )
  })

  it('the same signal again within a second is one delivery seen twice; later, or another signal, is a second signal', () => {
    const first = { signal: 'SIGINT' as const, at: 10_000 }
    assert.equal(isRepeatDelivery(first, 'SIGINT', 10_050), true)
    assert.equal(isRepeatDelivery(first, 'SIGINT', 11_500), false)
    assert.equal(isRepeatDelivery(first, 'SIGTERM', 10_050), false)
  })
})
