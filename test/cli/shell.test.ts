import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { CommandContext } from '../../src/cli/command.js'
import { progressBar } from '../../src/cli/progress.js'
import { runCli } from '../helpers/tools-cli.js'

const ctx = (isTTY: boolean, json = false) => {
  let err = ''
  const c: CommandContext = { stdout: { write: () => true }, stderr: { write: (t: string) => (err += t), isTTY }, env: {}, json }
  return { c, err: () => err }
}

describe('baileys-vault CLI shell', () => {
  it('--help lists every command; no command is a usage error; unknown commands exit 2', async () => {
    const help = await runCli(['--help'])
    assert.equal(help.code, 0)
    for (const name of ['ls', 'inspect', 'doctor', 'migrate', 'backup', 'restore', 'prune']) assert.match(help.stdout, new RegExp(`^  ${name} `, 'm'))
    const none = await runCli([])
    assert.equal(none.code, 2)
    assert.match(none.stderr, /Usage: baileys-vault/)
    const unknown = await runCli(['frobnicate'])
    assert.equal(unknown.code, 2)
    assert.match(unknown.stderr, /unknown command "frobnicate"/)
    assert.match((await runCli(['--version'])).stdout, /^\d+\.\d+\.\d+/)
  })

  it('<command> --help prints its usage and runs nothing', async () => {
    const run = await runCli(['migrate', '--help'])
    assert.equal(run.code, 0)
    assert.match(run.stdout, /baileys-vault migrate <from-url> <to-url>/)
  })

  it('--json errors are a JSON document on stdout too', async () => {
    const run = await runCli(['ls', 'nope:x', '--json'])
    assert.equal(run.code, 2)
    assert.equal(run.json().error.code, 'INVALID_ARGUMENT')
    assert.match(run.stderr, /Unknown store URL/)
  })

  it('the progress bar draws on a terminal only, never with --json, and clears itself', () => {
    const tty = ctx(true)
    const bar = progressBar(tty.c, 'migrate', { showAfterMs: 0, redrawMs: 0 })
    bar.listener!({ phase: 'copy', done: 50, total: 200, session: 'alice' })
    bar.listener!({ phase: 'verify', done: 7 })
    bar.end()
    // eslint-disable-next-line no-control-regex -- the terminal's erase-line sequence
    assert.match(tty.err(), /\r\x1b\[Kmigrate copy +\[######-+\] +25% 50\/200 keys {2}alice/)
    assert.match(tty.err(), /migrate verify +7 keys/)
    assert.ok(tty.err().endsWith('\r\x1b[K'))
    assert.equal(progressBar(ctx(false).c, 'x').listener, undefined)
    assert.equal(progressBar(ctx(true, true).c, 'x').listener, undefined)
    const quick = ctx(true)
    const q = progressBar(quick.c, 'x')
    q.listener!({ phase: 'copy', done: 1, total: 2 })
    q.end()
    assert.equal(quick.err(), '', 'work faster than a moment shows no bar')
  })
})
