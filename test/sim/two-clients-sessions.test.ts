/**
 * Session claims with real Baileys on both ends, each its own account on the simulator, each on
 * a baileys-vault SQLite store: Alice (this process) and a bot in a child process.
 * - Power cut: the bot dies mid-conversation and restarts from only what its store had flushed
 *   (helpers/durable-images.ts), not from the files the killed process left.
 * - Handoff: the bot runs under the runtime with a lease and a standby; SIGTERM the owner, the
 *   standby takes over without a QR code and without a 440.
 * - Retry store: Alice's store comes back from a backup taken before she talked to the bot, so
 *   she cannot decrypt the bot's next message and her Baileys sends a genuine retry receipt;
 *   the bot was SIGKILLed in between, so only its durable retry store can answer it.
 */
import assert from 'node:assert/strict'
import { copyFileSync, existsSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import type { WAMessage } from '@whiskeysockets/baileys'
import { openStore } from '../../src/open-store.js'
import { phoneForPushName } from '../../src/sim/state.js'
import { textOf, type Client } from '../helpers/sim-client.js'
import { useAliceWithPeers } from '../helpers/alice-with-peers.js'
import { LEASE_CHILD, SIM_CHILD } from '../helpers/sim-peer-child.js'
import { linkPeer, loginPeer, PEER_OPEN_MS, waitForText } from '../helpers/sim-peers.js'
import { eventually } from '../helpers/sim-lifecycle.js'

const peers = useAliceWithPeers({ tmpPrefix: 'vault-sim-sessions-' })
const { sim, startPeer } = peers

const jidOf = (pushName: string) => `${phoneForPushName(pushName)}@s.whatsapp.net`

/** Why each of `messages` that could not be decrypted could not (Baileys' CIPHERTEXT stubs). */
const decryptFailures = (messages: WAMessage[]) =>
  messages.filter(m => m.messageStubParameters?.length && !m.message).map(m => String(m.messageStubParameters![0]))

/** Alice sends `text` to `jid` and waits for the echo. */
async function roundTrip(client: Client, jid: string, text: string): Promise<WAMessage> {
  await client.sock.sendMessage(jid, { text })
  return waitForText(client, `echo: ${text}`)
}

test('power cut: one of two real clients restarts from only what its store flushed, and both sessions continue', { timeout: 60_000 }, async t => {
  const bobJid = jidOf('Bob')
  const cut = join(peers.dir, 'bob-after-power-cut')
  const seen = peers.alice.client.received.length
  // Bob's store flushes as on a disk slow enough that commits share a flush (the durable
  // default's mode there): a commit lands in the WAL and its fdatasync follows off the event loop.
  // The power cut hits right after the commit of the session Bob encrypted his 4th message with
  // (his 8th session commit; the message has left), before its flush: a SIGKILL would keep that
  // commit (the kernel has it), a power cut loses it.
  const sharedFlush = JSON.stringify({ sqlite: { inlineFlushBelowMs: 0 } })
  const env = { VAULT_SIM_KILL: 'commit:8', VAULT_SIM_POWER_CUT: cut, VAULT_SIM_STORE_OPTIONS: sharedFlush }
  const first = startPeer({ script: SIM_CHILD, args: [`sqlite:${join(peers.dir, 'bob.db')}`, 'bob'], pushName: 'Bob', env })
  await first.waitFor(e => e.type === 'open', 'Bob open after linking')
  for (let i = 1; i <= 3; i++) assert.equal((await roundTrip(peers.alice.client, bobJid, `m${i}`)).pushName, 'Bob')
  await peers.alice.client.sock.sendMessage(bobJid, { text: 'm4' })
  await first.exited
  await waitForText(peers.alice.client, 'echo: m4')
  const [left, flushed] = [readFileSync(join(peers.dir, 'bob.db-wal')), readFileSync(join(cut, 'bob.db-wal'))]
  t.diagnostic(`WAL bytes: ${left.length} left by the killed process, ${flushed.length} flushed before the power cut`)
  assert.ok(!left.equals(flushed), 'the power cut lost a commit the killed process had written')
  for (const text of ['m5', 'm6']) await peers.alice.client.sock.sendMessage(bobJid, { text })

  const second = startPeer({ script: SIM_CHILD, args: [`sqlite:${join(cut, 'bob.db')}`, 'bob'], pushName: 'Bob' })
  await second.waitFor(e => e.type === 'open', 'Bob open after the power cut')
  assert.equal(second.events.filter(e => e.type === 'qr').length, 0, 'no QR code after a power cut')
  for (const text of ['m5', 'm6']) await waitForText(peers.alice.client, `echo: ${text}`)
  await roundTrip(peers.alice.client, bobJid, 'after the power cut')
  const failures = decryptFailures(peers.alice.client.received.slice(seen))
  t.diagnostic(`messages Alice could not decrypt at first (then asked again): ${JSON.stringify(failures)}`)
  assert.ok(!failures.some(f => /bad mac/i.test(f)), `no Bad MAC on Alice's side: ${JSON.stringify(failures)}`)
  const bobFailures = second.events.filter(e => e.type === 'undecryptable').map(e => e.reason)
  assert.deepEqual(bobFailures, [], 'Bob decrypted every message at once after the power cut')
  second.child.kill('SIGKILL')
})

test('handoff: SIGTERM the owner of a real client, its standby takes over without QR or 440, the conversation continues', { timeout: 60_000 }, async () => {
  const daveJid = jidOf('Dave')
  const store = `sqlite:${join(peers.dir, 'dave.db')}`
  const runtime = () => startPeer({ script: LEASE_CHILD, args: [store, 'dave', '3000', '1'], pushName: 'Dave' })
  const connected = (e: { type: string; state?: string }) => e.type === 'state' && e.state === 'connected'
  const seen = peers.alice.client.received.length

  const owner = runtime()
  await owner.waitFor(connected, 'the owner connected after linking')
  await roundTrip(peers.alice.client, daveJid, 'before the handoff')
  const standby = runtime()
  await standby.waitFor(e => e.type === 'state' && e.state === 'standby', 'the second process standing by')

  owner.child.kill('SIGTERM')
  assert.equal(await owner.exited, 0, 'the owner stops cleanly on SIGTERM')
  // Sent while the account changes hands: it waits for whichever process is connected next.
  await peers.alice.client.sock.sendMessage(daveJid, { text: 'during the handoff' })
  await standby.waitFor(connected, 'the standby took over')
  assert.deepEqual(
    standby.events.filter(e => e.type === 'qr'),
    [],
    'no QR code for the standby'
  )
  await waitForText(peers.alice.client, 'echo: during the handoff')
  await roundTrip(peers.alice.client, daveJid, 'after the handoff')

  const device = sim.devices().find(d => d.jid.startsWith(`${phoneForPushName('Dave')}:`))
  assert.ok(device, "Dave's device is linked")
  assert.equal(device.kicks.replaced, 0, 'nobody was kicked with 440 (replaced)')
  const codes = [...owner.events, ...standby.events].filter(e => e.type === 'state').map(e => e.code)
  assert.ok(!codes.includes(440), `no state change for a 440: ${JSON.stringify(codes)}`)
  assert.deepEqual(decryptFailures(peers.alice.client.received.slice(seen)), [], 'every message decrypted at once')
  standby.child.kill('SIGTERM')
  await standby.exited
})

interface RetryScenario {
  /** The message the bot sent that Alice could not decrypt. */
  original: { id: string; text: string }
  /** Why Alice could not decrypt it (her Baileys' CIPHERTEXT stub). */
  failure: string
  /** Alice's messages with that id after the bot restarted. */
  resent: Array<{ id: string; text: string | undefined }>
  /** Why any message failed to decrypt after the restore, besides that one: Alice's, then the restarted bot's. */
  otherFailures: string[]
}

/**
 * Alice (`alicePushName`, her own store) and a bot (`botPushName`, a child process; its retry
 * store on or off) talk; Alice's store is backed up before that. Alice goes offline, the bot
 * sends her a text and is SIGKILLed; Alice's store is restored from the backup, so she cannot
 * decrypt the text and asks again; the bot restarts and gets her retry receipt.
 */
async function retryScenario(options: { alicePushName: string; botPushName: string; messageStore: boolean }): Promise<RetryScenario> {
  const path = join(peers.dir, `${options.alicePushName}.db`)
  const backup = join(peers.dir, `${options.alicePushName}-backup`)
  const botJid = jidOf(options.botPushName)
  const botStore = `sqlite:${join(peers.dir, `${options.botPushName}.db`)}`
  const env: Record<string, string> = options.messageStore ? { VAULT_SIM_MESSAGE_STORE: '1' } : {}

  let store = await openStore(`sqlite:${path}`)
  const linked = await linkPeer({ sim, auth: await store.useAuthState('a'), pushName: options.alicePushName })
  // The backup: the linked, logged-in device before it ever talked to the bot.
  await linked.client.end()
  await store.close()
  copySqlite(path, backup)
  store = await openStore(`sqlite:${path}`)
  let client = await loginPeer({ sim, auth: await store.useAuthState('a'), config: { pushName: options.alicePushName } })

  const bot = startPeer({ script: SIM_CHILD, args: [botStore, 'bot'], pushName: options.botPushName, env })
  await bot.waitFor(e => e.type === 'open', 'the bot open after linking')
  await roundTrip(client, botJid, 'hello')

  await client.end()
  await store.close()
  const aliceJid = jidOf(options.alicePushName)
  await eventually(() => sim.devices().some(d => d.jid.startsWith(`${phoneForPushName(options.alicePushName)}:`) && !d.online), 'Alice offline', PEER_OPEN_MS)
  const text = `for your eyes ${options.botPushName}`
  bot.child.send({ type: 'send', to: aliceJid, text })
  const { id } = await bot.waitFor(e => e.type === 'sent', 'the bot sent its text')
  bot.child.kill('SIGKILL')
  await bot.exited

  // Alice's store comes back from the backup: no Signal session with the bot any more.
  copySqlite(backup, path)
  store = await openStore(`sqlite:${path}`)
  peers.stores.push(store)
  client = await loginPeer({ sim, auth: await store.useAuthState('a'), config: { pushName: options.alicePushName } })
  peers.clients.push(client)
  const stub = await nextWithId(client, id!)
  assert.ok(!stub.message, 'Alice could not decrypt the text after the restore')

  const restarted = startPeer({ script: SIM_CHILD, args: [botStore, 'bot'], pushName: options.botPushName, env })
  await restarted.waitFor(e => e.type === 'open', 'the bot open after its restart')
  // With the retry store Alice waits for the resend before she writes again (both sides setting up
  // a new session at once is a race of its own); without it, two round trips bound the wait.
  if (options.messageStore) await nextWithId(client, id!)
  for (const ping of ['ping 1', 'ping 2']) await roundTrip(client, botJid, ping)
  restarted.child.kill('SIGKILL')
  return {
    original: { id: id!, text },
    failure: String(stub.messageStubParameters?.[0]),
    resent: client.received.filter(m => m.key.id === id && m.message).map(m => ({ id: m.key.id!, text: textOf(m) })),
    otherFailures: [
      ...decryptFailures(client.received.filter(m => m.key.id !== id)),
      ...restarted.events.filter(e => e.type === 'undecryptable').map(e => String(e.reason))
    ]
  }
}

test("retry store: a real client's retry receipt after the bot was SIGKILLed gets the same message again", { timeout: 60_000 }, async t => {
  const run = await retryScenario({ alicePushName: 'Erin', botPushName: 'Frank', messageStore: true })
  t.diagnostic(`Alice's decryption failure: ${run.failure}`)
  assert.deepEqual(run.resent, [run.original], 'the same id and text, once')
  assert.deepEqual(run.otherFailures, [], 'every other message decrypted at once, both ways')
})

test('control: without the retry store the restarted bot has nothing to answer the retry receipt with', { timeout: 60_000 }, async () => {
  const run = await retryScenario({ alicePushName: 'Gina', botPushName: 'Hank', messageStore: false })
  assert.deepEqual(run.resent, [], 'nothing resent')
})

/** Copies a closed SQLite database (and its WAL, if one is left) over `to`, replacing what is there. */
function copySqlite(from: string, to: string): void {
  for (const suffix of ['', '-wal', '-shm']) {
    rmSync(to + suffix, { force: true })
    if (existsSync(from + suffix)) copyFileSync(from + suffix, to + suffix)
  }
}

/** The next message `client` receives with id `id`, decrypted or not. */
async function nextWithId(client: Client, id: string): Promise<WAMessage> {
  const deadline = Date.now() + PEER_OPEN_MS
  for (;;) {
    const msg = await client.nextMessage(Math.max(1, deadline - Date.now()))
    if (msg.key.id === id) return msg
  }
}
