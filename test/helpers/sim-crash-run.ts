/**
 * The simulator's SIGKILL scenario (test/sim/lifecycle.test.ts test 4) made deterministic: an echo bot
 * child (sim-child.ts) on a SQLite store, killed at a chosen point (by itself, through
 * sim-child-faults.ts, or by the parent), restarted from the store; the contact must decrypt the
 * restarted bot's echo of a new message.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { OpenStoreOptions } from '../../src/open-store.js'
import { startSimulator, trustSimulator, type Contact } from '../../src/sim/index.js'
import { encodeOptions } from './crash-conversation.js'

const CHILD = fileURLToPath(new URL('./sim-child.js', import.meta.url))
const WAIT_MS = 15_000

export interface CrashRunOptions {
  storeOptions?: OpenStoreOptions
  /**
   * 'traffic' (test 4): six messages in flight when the bot dies, two more queue while it is down.
   * 'crossing': the bot dies idle; after the restart its first reply (Baileys opens a new
   * session for it) crosses a message the contact sent on the old session.
   */
  scenario?: 'traffic' | 'crossing'
  /** VAULT_SIM_KILL of the first bot ('commit:<n>' or 'send:<n>'); absent: the parent kills it. */
  kill?: string
  /** Whether the contact uses retry receipts both ways, as a phone does (Contact.usesRetryReceipts). */
  retryReceipts?: boolean
  /**
   * The bots keep what they send in the retry store (VAULT_SIM_MESSAGE_STORE). Either way, once
   * the restarted bot answered, the contact asks again for every message the first bot sent it
   * (as a phone that could not decrypt them), and the result counts those served again.
   */
  messageStore?: boolean
}

export interface CrashRunResult {
  /** The contact decrypted the restarted bot's echo of the last message. */
  recovered: boolean
  /** The bot killed itself at the injection point (false: the point never came; the parent killed it). */
  injected: boolean
  /** The bot's trace, both processes (pid first). */
  trace: string[]
  simLog: string[]
  /** Errors of the contact decrypting the restarted bot's messages. */
  contactErrors: string[]
  /** Retry receipts the contact sent to the restarted bot. */
  retriesSent: number
  /**
   * Ids of the messages the contact received from the first bot; of those the restarted bot sent
   * again when asked, the ones the contact decrypted (same text) and the ones that reached it but
   * did not decrypt (the contact's session with the bot forked in that crash window).
   */
  firstBotSent: string[]
  servedAgain: string[]
  resentUndecryptable: string[]
}

interface ChildEvent {
  type: string
  text?: string
  qr?: string
}

export async function crashRun({
  storeOptions = {},
  scenario = 'traffic',
  kill,
  retryReceipts = true,
  messageStore = false
}: CrashRunOptions): Promise<CrashRunResult> {
  const dir = mkdtempSync(join(tmpdir(), 'vault-sim-crash-'))
  const simLog: string[] = []
  const sim = await startSimulator({ log: line => simLog.push(line) })
  const untrust = trustSimulator(sim)
  const tracePath = join(dir, 'trace')
  const storeUrl = `sqlite:${join(dir, 'bot.db')}`
  const children: ChildProcess[] = []
  const start = (env: Record<string, string>) => {
    const events: ChildEvent[] = []
    const child = fork(CHILD, [sim.url, sim.rootPublicKey.toString('hex'), storeUrl, 'bot'], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      env: {
        ...process.env,
        VAULT_SIM_STORE_OPTIONS: encodeOptions(storeOptions),
        VAULT_SIM_TRACE: tracePath,
        VAULT_SIM_MESSAGE_STORE: messageStore ? '1' : '0',
        ...env
      }
    })
    children.push(child)
    child.on('message', msg => {
      const e = msg as ChildEvent
      events.push(e)
      if (e.type === 'qr' && events.filter(x => x.type === 'qr').length === 1) void sim.phone.scan(e.qr!)
    })
    const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
    const waitFor = async (type: string, text?: string) => {
      const deadline = Date.now() + WAIT_MS
      while (!events.some(e => e.type === type && (text === undefined || e.text === text))) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for the bot to report ${type} ${text ?? ''}`)
        await new Promise(r => setTimeout(r, 10))
      }
    }
    return { child, exited, waitFor }
  }
  const bob = sim.contact('15550002222', { name: 'Bob' })
  bob.usesRetryReceipts = retryReceipts
  try {
    const bot1 = start(kill ? { VAULT_SIM_KILL: kill } : {})
    await bot1.waitFor('open')
    await bob.sendText('m0')
    // An early kill point (the commit of m0's decrypt) comes before the echo.
    const firstBot = new Map<string, string | undefined>()
    const first = await Promise.race([bob.nextMessage(WAIT_MS), bot1.exited])
    if (first) firstBot.set(first.id, first.text)
    if (scenario === 'traffic') {
      for (let i = 1; i <= 6; i++) await bob.sendText(`m${i}`)
      if (!kill) await bot1.waitFor('received', 'm2')
    }
    // An injection point that never comes (fewer commits or sends than asked) ends in the parent's kill.
    const timer = setTimeout(() => bot1.child.kill('SIGKILL'), kill ? 5_000 : 0)
    await bot1.exited
    clearTimeout(timer)
    const injected = readTrace(tracePath).some(line => line.includes('SIGKILL'))
    if (scenario === 'traffic') for (let i = 7; i <= 8; i++) await bob.sendText(`m${i}`)
    // Only what the restarted bot sends counts.
    while (bob.pendingMessages > 0) {
      const m = await bob.nextMessage()
      firstBot.set(m.id, m.text)
    }
    const errorsBefore = bob.decryptErrors.length
    const retriesBefore = bob.retriesSent

    const bot2 = start({})
    await bot2.waitFor('open')
    if (scenario === 'crossing') await cross(bob, bot2.waitFor)
    const recovered = await echoed(bob, bot2.waitFor, 'after restart')
    const failedBefore = bob.undecryptedIds.length
    // A contact without retry receipts (the fork's control) never asks again: nothing to wait for.
    const servedAgain = retryReceipts ? await askAgain(bob, firstBot, bot2.waitFor) : []
    const failedAfter = new Set(bob.undecryptedIds.slice(failedBefore))
    return {
      firstBotSent: [...firstBot.keys()],
      servedAgain,
      resentUndecryptable: [...firstBot.keys()].filter(id => !servedAgain.includes(id) && failedAfter.has(id)),
      recovered,
      injected,
      trace: readTrace(tracePath),
      simLog,
      contactErrors: bob.decryptErrors.slice(errorsBefore).map(e => e.message),
      retriesSent: bob.retriesSent - retriesBefore
    }
  } finally {
    for (const c of children) c.kill('SIGKILL')
    untrust()
    await sim.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

type WaitFor = (type: string, text?: string) => Promise<void>

/**
 * The contact asks again for each message the first bot sent it; the ids that come back with the
 * same text. The wait is bounded by echo round trips after the asks (at most six).
 */
async function askAgain(bob: Contact, sent: Map<string, string | undefined>, waitFor: WaitFor): Promise<string[]> {
  for (const id of sent.keys()) await bob.requestRetry(id)
  const served = new Set<string>()
  // A resend goes through Baileys' retry path (session from the receipt's bundle, device lookup):
  // under load it can come after a plain echo, so wait up to a few round trips for every one.
  for (let round = 1; round <= 6 && served.size < sent.size; round++) {
    const marker = `asked again ${round}`
    await bob.sendText(marker)
    await waitFor('received', marker).catch(() => undefined)
    for (;;) {
      let m
      try {
        m = await bob.nextMessage(WAIT_MS)
      } catch {
        break
      }
      if (sent.has(m.id) && sent.get(m.id) === m.text) served.add(m.id)
      if (m.text === `echo: ${marker}`) break
    }
  }
  return [...served]
}

/**
 * The bot's first reply after a restart goes out on a new session it opens (a pkmsg); the contact
 * does not see it before it sends its next message on the old session, which the bot decrypts
 * after it opened the new one.
 */
async function cross(bob: Contact, waitFor: WaitFor): Promise<void> {
  const release = bob.holdIncoming()
  await bob.sendText('first')
  await waitFor('replied', 'first')
  await bob.sendText('crossing')
  await waitFor('replied', 'crossing')
  release()
}

/** Sends `text`; true once the contact decrypted the bot's echo of it. */
async function echoed(bob: Contact, waitFor: WaitFor, text: string): Promise<boolean> {
  await bob.sendText(text)
  try {
    await waitFor('received', text)
    for (;;) if ((await bob.nextMessage(WAIT_MS)).text === `echo: ${text}`) return true
  } catch {
    return false
  }
}

const readTrace = (path: string): string[] => {
  try {
    return readFileSync(path, 'utf8').split('\n').filter(Boolean)
  } catch {
    return []
  }
}
