/**
 * The built `baileys-vault` bin as a child process, for the end-to-end tests of `run`, `sim` and
 * `demo`: stdout's JSON lines become events a test waits for (never a sleep), stderr is kept for
 * messages and the secrets scan, and the simulator is driven only through its HTTP control API.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { asNobody } from './unprivileged.js'

export const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'bin.js')

export type CliEvent = Record<string, any> & { event?: string }

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface CliChild {
  readonly child: ChildProcess
  /** Every JSON line printed on stdout so far, in order. */
  readonly events: CliEvent[]
  /** Everything printed so far. */
  stdout(): string
  stderr(): string
  /** The `nth` (default first) event from index `from` on that matches; waits for it up to `timeoutMs`. */
  waitFor(match: (e: CliEvent) => boolean, options?: { what?: string; from?: number; nth?: number; timeoutMs?: number }): Promise<CliEvent>
  /** Resolves with the exit code and signal; rejects after `timeoutMs`. */
  exited(timeoutMs?: number): Promise<Exit>
  /** Kills the process if it still runs (test cleanup). */
  kill(signal?: NodeJS.Signals): void
}

/** Spawns `node bin.js ...argv`. Lines on stdout that are not JSON are kept in stdout() only. */
export function spawnCli(argv: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; asNobody?: boolean } = {}): CliChild {
  const line = options.asNobody ? asNobody(process.execPath, [BIN, ...argv]) : { command: process.execPath, args: [BIN, ...argv] }
  const child = spawn(line.command, line.args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const events: CliEvent[] = []
  let out = ''
  let err = ''
  const waiters = new Set<() => void>()
  const wake = () => waiters.forEach(w => w())
  createInterface({ input: child.stdout! }).on('line', line => {
    out += `${line}\n`
    try {
      const value = JSON.parse(line)
      if (value && typeof value === 'object') events.push(value)
    } catch {
      // a human line: kept in stdout() only
    }
    wake()
  })
  child.stderr!.setEncoding('utf8').on('data', chunk => void (err += chunk))
  const exit = new Promise<Exit>(resolve => child.once('exit', (code, signal) => resolve({ code, signal })))
  void exit.then(wake)
  let done = false
  void exit.then(() => (done = true))

  return {
    child,
    events,
    stdout: () => out,
    stderr: () => err,
    waitFor(match, { what = 'an event', from = 0, nth = 1, timeoutMs = 15_000 } = {}) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events.slice(from).filter(match)[nth - 1]
          if (found) finish(() => resolve(found))
          else if (done) finish(() => reject(new Error(`the process exited before ${what}; events: ${JSON.stringify(events)}; stderr: ${err}`)))
        }
        const timer = setTimeout(
          () => finish(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; events: ${JSON.stringify(events)}; stderr: ${err}`))),
          timeoutMs
        )
        const finish = (then: () => void) => {
          clearTimeout(timer)
          waiters.delete(check)
          then()
        }
        waiters.add(check)
        check()
      })
    },
    exited(timeoutMs = 15_000) {
      return Promise.race([
        exit,
        new Promise<Exit>((_, reject) =>
          setTimeout(() => reject(new Error(`the process did not exit within ${timeoutMs} ms; stderr: ${err}`)), timeoutMs).unref()
        )
      ])
    },
    kill(signal = 'SIGKILL') {
      if (!done) child.kill(signal)
    }
  }
}

/** The simulator (`baileys-vault sim --json`) in a child process, with its control API. */
export interface SimChild {
  readonly url: string
  readonly rootPublicKey: string
  /** The simulated phone's number, digits only (what --pairing-code takes). */
  readonly phone: string
  /** The run flags that point a session at this simulator. */
  readonly flags: string[]
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>
  stop(): Promise<void>
}

export async function startSimChild(): Promise<SimChild> {
  const cli = spawnCli(['sim', '--json', '--port', '0'])
  const info = await cli.waitFor(e => typeof e.url === 'string', { what: 'the simulator URL', timeoutMs: 20_000 })
  const control = String(info.url).replace(/^ws:/, 'http:')
  return {
    url: info.url,
    rootPublicKey: info.rootPublicKey,
    phone: String(info.phone).split('@')[0] ?? '',
    flags: ['--server', info.url, '--trust-root-key', info.rootPublicKey],
    async call(method, path, body) {
      const res = await fetch(control + path, {
        method,
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
        // A long poll (?timeoutMs=) is given its own wait on top.
        signal: AbortSignal.timeout(20_000 + (Number(new URL(path, control).searchParams.get('timeoutMs')) || 0))
      })
      return { status: res.status, body: await res.json() }
    },
    async stop() {
      cli.kill('SIGTERM')
      const { code } = await cli.exited(10_000)
      assert.equal(code, 0, `the simulator exits 0 on SIGTERM; stderr: ${cli.stderr()}`)
    }
  }
}

/** Matches a `state` event of `run --json` entering `state`. */
export const entered =
  (state: string) =>
  (e: CliEvent): boolean =>
    e.event === 'state' && e.state === state

/** Links a `run` child that shows a QR: the simulated phone scans the first QR event. Returns the device jid. */
export async function linkByQr(run: CliChild, sim: SimChild, options: { timeoutMs?: number } = {}): Promise<string> {
  const { qr } = await run.waitFor(e => e.event === 'qr', { what: 'the QR event', timeoutMs: options.timeoutMs })
  const scanned = await sim.call('POST', '/scan', qr)
  assert.equal(scanned.status, 200, `the phone scans the QR: ${JSON.stringify(scanned.body)}`)
  await run.waitFor(entered('connected'), { what: 'connected after the scan', timeoutMs: options.timeoutMs })
  return scanned.body.jid
}

/** A contact texts the linked device; resolves with the text of the contact's next incoming message. */
export async function converse(sim: SimChild, contact: string, text: string): Promise<string | undefined> {
  const sent = await sim.call('POST', `/contacts/${contact}/send`, { text })
  assert.equal(sent.status, 200, `the contact sends: ${JSON.stringify(sent.body)}`)
  const reply = await sim.call('GET', `/contacts/${contact}/next?timeoutMs=10000`)
  assert.equal(reply.status, 200, `the contact receives a reply: ${JSON.stringify(reply.body)}`)
  return reply.body.text
}

/** An echo bot as a user writes it for `run --bot`; "boom" makes it throw (a buggy bot). */
export const ECHO_BOT = `export default sock => {
  sock.ev.on('messages.upsert', async ({ messages, type }) => {
    if (type !== 'notify') return
    for (const m of messages) {
      const text = m.message?.conversation ?? m.message?.extendedTextMessage?.text
      if (text === 'boom') throw new Error('the bot failed on purpose')
      if (!m.key.fromMe && text) await sock.sendMessage(m.key.remoteJid, { text: 'echo: ' + text })
    }
  })
}
`
