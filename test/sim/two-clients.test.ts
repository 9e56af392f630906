/**
 * Two real Baileys clients on one simulator, each its own account (by push name) on its own
 * baileys-vault store: direct messages both ways with push names, revoke, receipts, the offline
 * queue, and the history-sync notification that spares a first login Baileys' 20 s wait.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Agent } from 'node:https'
import { downloadMediaMessage, proto, type WAMessage } from '@whiskeysockets/baileys'
import { openStore } from '../../src/open-store.js'
import type { AuthStore } from '../../src/auth/auth-store.js'
import { phoneForPushName } from '../../src/sim/state.js'
import { textOf } from '../helpers/sim-client.js'
import { linkPeer, loginPeer, PEER_OPEN_MS, waitForText, type Peer } from '../helpers/sim-peers.js'
import { useSimulator } from '../helpers/use-simulator.js'

// The simulator's self-signed certificate: the WebSocket and uploads go through this agent;
// Baileys downloads with fetch, which takes no agent, so this test process accepts it too.
const agent = new Agent({ rejectUnauthorized: false })
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'

describe('simulator: two real clients, one account each', () => {
  let dir: string
  let aliceStore: AuthStore
  let bobStore: AuthStore
  let charlieStore: AuthStore
  let alice: Peer
  let bob: Peer
  let charlie: Peer

  // Registered before useSimulator, so it runs while the simulator still listens.
  after(async () => {
    await Promise.all([alice?.client.end(), bob?.client.end(), charlie?.client.end()])
    await Promise.all([aliceStore?.close(), bobStore?.close(), charlieStore?.close()])
  })

  const sim = useSimulator({ start: { tls: true } })

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vault-sim-peers-'))
    aliceStore = await openStore(`sqlite:${join(dir, 'alice.db')}`)
    bobStore = await openStore(`file:${join(dir, 'bob')}`)
    charlieStore = await openStore(`sqlite:${join(dir, 'charlie.db')}`)
    ;[alice, bob, charlie] = await Promise.all([
      linkPeer({ sim, auth: await aliceStore.useAuthState('alice'), pushName: 'Alice', config: { agent, fetchAgent: agent } }),
      linkPeer({ sim, auth: await bobStore.useAuthState('bob'), pushName: 'Bob', config: { agent, fetchAgent: agent } }),
      linkPeer({ sim, auth: await charlieStore.useAuthState('charlie'), pushName: 'Charlie', config: { agent, fetchAgent: agent } })
    ])
  })

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  test('each push name is its own account, with a number derived from the name', () => {
    assert.equal(alice.jid, `${phoneForPushName('Alice')}@s.whatsapp.net`)
    assert.equal(bob.jid, `${phoneForPushName('Bob')}@s.whatsapp.net`)
    assert.notEqual(alice.jid, bob.jid)
    const named = sim.accounts().filter(a => a.pushName)
    assert.deepEqual(named.map(a => [a.pushName, `${a.pn}@s.whatsapp.net`, a.devices.length]).sort(), [
      ['Alice', alice.jid, 1],
      ['Bob', bob.jid, 1],
      ['Charlie', charlie.jid, 1]
    ])
  })

  test('a DM reaches the other client with the sender push name, and the answer comes back', { timeout: 60_000 }, async () => {
    const sent = await alice.client.sock.sendMessage(bob.jid, { text: 'hello Bob' })
    const got = await waitForText(bob.client, 'hello Bob')
    assert.equal(got.key.fromMe, false)
    assert.equal(got.key.remoteJid, alice.jid)
    assert.equal(got.key.id, sent?.key.id)
    assert.equal(got.pushName, 'Alice')

    await bob.client.sock.sendMessage(alice.jid, { text: 'hello Alice' })
    const back = await waitForText(alice.client, 'hello Alice')
    assert.equal(back.key.remoteJid, bob.jid)
    assert.equal(back.pushName, 'Bob')
  })

  test('the sender sees the delivery receipt', { timeout: 60_000 }, async () => {
    const delivered = new Promise<void>(resolve => {
      alice.client.sock.ev.on('messages.update', updates => {
        for (const u of updates) if (u.key.id === id && (u.update.status ?? 0) >= proto.WebMessageInfo.Status.DELIVERY_ACK) resolve()
      })
    })
    const sent = await alice.client.sock.sendMessage(bob.jid, { text: 'did you get this?' })
    const id = sent?.key.id
    await waitForText(bob.client, 'did you get this?')
    await delivered
  })

  test('a revoke reaches the recipient as a protocol message naming the message', { timeout: 60_000 }, async () => {
    const sent = await alice.client.sock.sendMessage(bob.jid, { text: 'oops' })
    await waitForText(bob.client, 'oops')
    await alice.client.sock.sendMessage(bob.jid, { delete: sent!.key })
    let revoke: WAMessage | undefined
    while (!revoke) {
      const msg = await bob.client.nextMessage(PEER_OPEN_MS)
      if (msg.message?.protocolMessage?.type === proto.Message.ProtocolMessage.Type.REVOKE) revoke = msg
    }
    assert.equal(revoke.message?.protocolMessage?.key?.id, sent!.key.id)
  })

  test('a message to an offline client waits for its next login, on its persisted session', { timeout: 60_000 }, async () => {
    await bob.client.end()
    await alice.client.sock.sendMessage(bob.jid, { text: 'while you were away' })
    bob.client = await loginPeer({ sim, auth: await bobStore.useAuthState('bob'), config: { pushName: 'Bob', agent, fetchAgent: agent } })
    const got = await waitForText(bob.client, 'while you were away')
    assert.equal(textOf(got), 'while you were away')
  })
  /** Resolves when `peer` sees a group with this subject in a groups.upsert. */
  const seesGroup = (peer: Peer, subject: string) =>
    new Promise<void>(resolve => {
      const check = (groups: Array<{ subject?: string }>) => {
        if (!groups.some(g => g.subject === subject)) return
        peer.client.sock.ev.off('groups.upsert', check)
        resolve()
      }
      peer.client.sock.ev.on('groups.upsert', check)
    })

  /** The next group text `peer` receives in `group`. */
  async function nextGroupText(peer: Peer, group: string): Promise<WAMessage> {
    for (;;) {
      const msg = await peer.client.nextMessage(PEER_OPEN_MS)
      if (msg.key.remoteJid === group && textOf(msg) !== undefined) return msg
    }
  }

  test('groups: create, messages reach exactly the members, add, remove, promote, metadata', { timeout: 90_000 }, async () => {
    const bobSees = seesGroup(bob, 'Bar')
    const created = await alice.client.sock.groupCreate('Bar', [bob.jid])
    const id = created.id
    assert.equal(created.subject, 'Bar')
    assert.deepEqual(
      created.participants.map(p => [p.id, p.admin]).sort(),
      [
        [alice.jid, 'superadmin'],
        [bob.jid, null]
      ].sort()
    )
    await bobSees

    await alice.client.sock.sendMessage(id, { text: 'welcome Bob' })
    const got = await nextGroupText(bob, id)
    assert.equal(textOf(got), 'welcome Bob')
    assert.equal(got.key.participant, alice.jid)
    assert.equal(got.pushName, 'Alice')

    const charlieSees = seesGroup(charlie, 'Bar')
    const added = await alice.client.sock.groupParticipantsUpdate(id, [charlie.jid, bob.jid, '19999999999@s.whatsapp.net'], 'add')
    assert.deepEqual(
      added.map(r => r.status),
      ['200', '409', '404'],
      'a status per participant'
    )
    await charlieSees
    assert.equal((await alice.client.sock.groupMetadata(id)).participants.length, 3)

    await bob.client.sock.sendMessage(id, { text: 'hi all' })
    assert.equal(textOf(await nextGroupText(alice, id)), 'hi all')
    assert.equal(textOf(await nextGroupText(charlie, id)), 'hi all')

    const promoted = await alice.client.sock.groupParticipantsUpdate(id, [bob.jid], 'promote')
    assert.deepEqual(
      promoted.map(r => r.status),
      ['200']
    )
    const meta = await charlie.client.sock.groupMetadata(id)
    assert.equal(meta.participants.find(p => p.id === bob.jid)?.admin, 'admin')
    assert.deepEqual(
      (await alice.client.sock.groupParticipantsUpdate(id, [bob.jid], 'demote')).map(r => r.status),
      ['200']
    )

    const removed = await alice.client.sock.groupParticipantsUpdate(id, [charlie.jid], 'remove')
    assert.deepEqual(
      removed.map(r => r.status),
      ['200']
    )
    await alice.client.sock.sendMessage(id, { text: 'just us' })
    assert.equal(textOf(await nextGroupText(bob, id)), 'just us')
    // Charlie got nothing after the removal: a DM sent after the group message arrives first.
    await alice.client.sock.sendMessage(charlie.jid, { text: 'marker' })
    const next = await charlie.client.nextMessage(PEER_OPEN_MS)
    assert.equal(textOf(next), 'marker', 'a removed member receives no group message')

    const participating = await bob.client.sock.groupFetchAllParticipating()
    assert.deepEqual(Object.keys(participating), [id])
    assert.deepEqual(Object.keys(await charlie.client.sock.groupFetchAllParticipating()), [])
  })
  test('media: image, video, audio, document and sticker round-trip through the media store', { timeout: 90_000 }, async () => {
    const bytes = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff))
    const sends = [
      { kind: 'documentMessage', content: { document: bytes(70_000, 1), mimetype: 'application/pdf', fileName: 'menu.pdf' } },
      { kind: 'audioMessage', content: { audio: bytes(20_000, 2), mimetype: 'audio/ogg; codecs=opus', ptt: true, seconds: 3 } },
      { kind: 'stickerMessage', content: { sticker: bytes(9_000, 3), mimetype: 'image/webp' } },
      { kind: 'imageMessage', content: { image: bytes(30_000, 4), mimetype: 'image/jpeg', caption: 'a picture', jpegThumbnail: '' } },
      { kind: 'videoMessage', content: { video: bytes(50_000, 5), mimetype: 'video/mp4', caption: 'a clip', jpegThumbnail: '' } }
    ] as const
    for (const { kind, content } of sends) {
      await alice.client.sock.sendMessage(bob.jid, content as never)
      let got: WAMessage | undefined
      while (!got) {
        const msg = await bob.client.nextMessage(PEER_OPEN_MS)
        if (msg.message?.[kind]) got = msg
      }
      const data = await downloadMediaMessage(got, 'buffer', {}, { logger: undefined as never, reuploadRequest: m => Promise.resolve(m) })
      const sent = Object.values(content)[0] as Buffer
      assert.ok(Buffer.compare(data, sent) === 0, `${kind}: the downloaded bytes are the sent bytes`)
    }
  })
})
