/**
 * The retry store end to end (issue 21): `baileys-vault run` children with an echo bot against a
 * `baileys-vault sim` child, driven only through `run --json` events and the simulator's HTTP
 * control API. The bot answers a contact; its process ends (SIGKILL, SIGTERM with a standby
 * taking over, SIGKILL with a standby); the contact's retry receipt for that answer waits in the
 * server's offline queue or reaches the new owner; the contact must then get the same id with the
 * same text again. Nothing sleeps: every wait is for an event or a message, bounded (polls of the
 * simulator's device list every 50 ms aside).
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { entered, linkByQr, spawnCli, type CliChild, type SimChild } from './run-child.js'

export const SECRET_WORD = 'retry-secret-9c41e2'
const WAIT_MS = 60_000

export type Ending = 'sigkill' | 'handoff' | 'takeover'

/**
 * ECHO_BOT (run-child.ts) that also prints `{"sent": <id>}` once its sendMessage resolved, which
 * is when the answer's record is durable. PostgreSQL, Redis and file: commit the record with the
 * send's Signal keys after the message left (README, "Durable like the keys"): ending the owner
 * as soon as the contact has the answer can fall in those milliseconds, and so can lose the
 * record together with those keys. The chain ends the owner after the send, as the claim says.
 */
const SENDING_ECHO_BOT = `export default sock => {
  sock.ev.on('messages.upsert', async ({ messages, type }) => {
    if (type !== 'notify') return
    for (const m of messages) {
      const text = m.message?.conversation ?? m.message?.extendedTextMessage?.text
      if (m.key.fromMe || !text) continue
      const sent = await sock.sendMessage(m.key.remoteJid, { text: 'echo: ' + text })
      console.log(JSON.stringify({ sent: sent.key.id }))
    }
  })
}
`

export interface RetryStep {
  ending: Ending
  /** The answer the contact asked for again. */
  original: { id: string; text: string }
  /** The message with that id the contact got after the owner ended, if any. */
  resent?: { id: string; text: string }
  /** Every message the contact got after the owner ended, in order. */
  after: Array<{ id: string; text: string }>
  /** Wall time of the step (a diagnostic, never asserted). */
  ms: number
}

export interface RetryRunResult {
  steps: RetryStep[]
  /** Everything the `run` processes printed (for the secret scan). */
  output: string
}

/**
 * One linked device taken through `endings` in turn: each step's owner answers the contact, ends
 * (SIGKILL then a restart; SIGTERM with a standby; SIGKILL with a standby), and the contact asks
 * the next owner for that answer again. A chain links by QR once, and each step's new owner is
 * the next step's old one. `contact` (a number of its own per chain) talks only to this chain's
 * device, so chains can share one simulator at once. `flags` are extra `run` flags.
 */
export async function retryRun(
  sim: SimChild,
  url: string,
  options: { endings: Ending[]; contact: string; flags?: string[]; leaseTtl?: string }
): Promise<RetryRunResult> {
  const dir = mkdtempSync(join(tmpdir(), 'vault-retry-e2e-'))
  const bot = join(dir, 'bot.mjs')
  writeFileSync(bot, SENDING_ECHO_BOT)
  const { contact } = options
  const children: CliChild[] = []
  // A standby needs the owner's lease to hold while it starts. With 3 s (renewed each second) a
  // renewal ~2 s late on a loaded machine (this file's five chains start at once) lets the lease
  // lapse, and the standby takes it without standing by (see standingBy). 6 s tolerates a 4 s
  // stall; a takeover after SIGKILL waits for it once per chain.
  const leaseTtl = options.leaseTtl ?? (options.endings.some(e => e !== 'sigkill') ? '6s' : '3s')
  const spawnRun = () => {
    const child = spawnCli(['run', url, '--session', 'bot', '--bot', bot, '--lease-ttl', leaseTtl, '--json', ...sim.flags, ...(options.flags ?? [])])
    children.push(child)
    return child
  }
  try {
    let owner = spawnRun()
    // Chains start at once on a loaded machine: a child's start may take longer than the default wait.
    const jid = await linkByQr(owner, sim, { timeoutMs: WAIT_MS })
    const steps: RetryStep[] = []
    for (const [n, ending] of options.endings.entries()) {
      const started = Date.now()
      const original = await exchange(sim, contact, jid, `hello ${SECRET_WORD} ${n}`)
      assert.equal(original.text, `echo: hello ${SECRET_WORD} ${n}`)
      await owner.waitFor(e => e.sent === original.id, { what: "the owner's send of the answer resolved", timeoutMs: WAIT_MS })

      const standby = ending === 'sigkill' ? undefined : spawnRun()
      if (standby) await standingBy(standby, leaseTtl)
      owner.kill(ending === 'handoff' ? 'SIGTERM' : 'SIGKILL')
      await owner.exited(WAIT_MS)
      // The contact's phone could not decrypt the answer and asks again: with nobody connected the
      // retry receipt waits in the server's offline queue (SIGKILL, then a restart); with a standby
      // it goes to the new owner once that one is connected.
      if (standby) await standby.waitFor(entered('connected'), { what: 'the standby took over', timeoutMs: WAIT_MS })
      else await deviceOffline(sim, jid)
      const asked = await sim.call('POST', `/contacts/${contact}/retry`, { id: original.id })
      assert.equal(asked.status, 200, `the contact asks again: ${JSON.stringify(asked.body)}`)

      const next = standby ?? spawnRun()
      await next.waitFor(entered('connected'), { what: 'the new owner connected', timeoutMs: WAIT_MS })
      // A fresh exchange after the retry bounds the wait: the resend, if any, comes before or around its answer.
      const after: Array<{ id: string; text: string }> = []
      await send(sim, contact, jid, 'ping')
      for (let pings = 1; pings <= 2;) {
        const got = await sim.call('GET', `/contacts/${contact}/next?timeoutMs=${WAIT_MS}`)
        assert.equal(got.status, 200, `the contact receives: ${JSON.stringify(got.body)}; stderr: ${next.stderr()}`)
        after.push({ id: got.body.id, text: got.body.text })
        // One more round trip after the first ping's answer: a resend handled late still shows up.
        if (got.body.text === `echo: ping` && ++pings <= 2) await send(sim, contact, jid, 'ping')
      }
      steps.push({ ending, original, resent: after.find(m => m.id === original.id), after, ms: Date.now() - started })
      owner = next
    }
    owner.kill('SIGTERM')
    await owner.exited(WAIT_MS)
    return { steps, output: children.map(c => c.stdout() + c.stderr()).join('\n') }
  } finally {
    for (const c of children) c.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * The second process stands by while the owner holds the lease. Its first step decides: standby,
 * or (when the owner's lease lapsed) it takes the lease at once; the second fails the step now
 * with the reason, instead of waiting out the timeout for a standby that will never come.
 */
async function standingBy(standby: CliChild, leaseTtl: string): Promise<void> {
  const first = await standby.waitFor(e => ['standby', 'queued', 'connecting'].some(state => entered(state)(e)), {
    what: 'the second process standing by',
    timeoutMs: WAIT_MS
  })
  if (first.state !== 'standby') {
    throw new Error(
      `the second process took the lease at once (${first.state}) instead of standing by: the owner's ${leaseTtl} lease had lapsed (its renewals ran late); events: ${JSON.stringify(standby.events)}`
    )
  }
}

async function send(sim: SimChild, contact: string, to: string, text: string): Promise<void> {
  const sent = await sim.call('POST', `/contacts/${contact}/send`, { text, to })
  assert.equal(sent.status, 200, `the contact sends: ${JSON.stringify(sent.body)}`)
}

async function exchange(sim: SimChild, contact: string, to: string, text: string): Promise<{ id: string; text: string }> {
  await send(sim, contact, to, text)
  const reply = await sim.call('GET', `/contacts/${contact}/next?timeoutMs=${WAIT_MS}`)
  assert.equal(reply.status, 200, `the contact receives the answer: ${JSON.stringify(reply.body)}`)
  return { id: reply.body.id, text: reply.body.text }
}

/** The simulator saw the device's connection close (so what the contact sends now is queued). */
async function deviceOffline(sim: SimChild, jid: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS
  for (;;) {
    const { body } = await sim.call('GET', '/devices')
    const device = (body as Array<{ jid: string; online: boolean }>).find(d => d.jid === jid)
    if (device && !device.online) return
    if (Date.now() > deadline) throw new Error(`the simulator still shows ${jid} online`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}
