/**
 * Bad input never takes the simulator down: random bytes, truncated and oversized frames, text
 * messages, tampered Noise frames and unknown devices each close (or refuse) only the offending
 * connection, while a linked client keeps working. Loopback only; every wait is bounded.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, test } from 'node:test'
import WebSocket from 'ws'
import {
  Browsers,
  BufferJSON,
  Curve,
  DEFAULT_CONNECTION_CONFIG,
  DisconnectReason,
  decodeBinaryNode,
  encodeBinaryNode,
  generateRegistrationNode,
  initAuthCreds,
  makeNoiseHandler,
  NOISE_WA_HEADER,
  proto,
  type BinaryNode,
  type SocketConfig
} from '@whiskeysockets/baileys'
import { openStore } from '../../src/open-store.js'
import type { AuthStore as Store } from '../../src/auth/auth-store.js'
import { connectClient, silentLogger, textOf, type Client } from '../helpers/sim-client.js'
import { pair } from '../helpers/sim-lifecycle.js'
import { useSimulator } from '../helpers/use-simulator.js'

let store: Store
let bot: Client
let botJid: string

// Registered before useSimulator, so it runs while the simulator still listens.
after(async () => {
  await bot?.end()
  await store?.close()
})

const sim = useSimulator()

before(async () => {
  store = await openStore('memory:sim-garbage')
  const auth = await store.useAuthState('bot')
  botJid = (await pair(sim, auth)).jid
  bot = connectClient({ url: sim.url, auth })
  await bot.waitForOpen(10_000)
})

/** Opens a raw WebSocket to the simulator. */
async function raw(): Promise<WebSocket> {
  const ws = new WebSocket(sim.url)
  await new Promise((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
  })
  return ws
}

/** Resolves when the server closes `ws`; fails after `ms`. */
function closedByServer(ws: WebSocket, ms = 5_000): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the server did not close the connection')), ms)
    ws.once('close', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

const frame = (payload: Uint8Array) => {
  const out = Buffer.alloc(3 + payload.length)
  out.writeUIntBE(payload.length, 0, 3)
  out.set(payload, 3)
  return out
}

/** A registration handshake done with Baileys' own client-side Noise handler. */
async function handshake() {
  const ws = await raw()
  const ephemeral = Curve.generateKeyPair()
  const noise = makeNoiseHandler({ keyPair: ephemeral, NOISE_HEADER: NOISE_WA_HEADER, logger: silentLogger, routingInfo: undefined })
  const inbound: Array<Uint8Array | BinaryNode> = []
  ws.on('message', data => void noise.decodeFrame(data as Buffer, f => inbound.push(f)))
  const next = async () => {
    const deadline = Date.now() + 5_000
    while (inbound.length === 0) {
      if (Date.now() > deadline) throw new Error('no frame from the server')
      await new Promise(r => setTimeout(r, 10))
    }
    return inbound.shift()!
  }
  ws.send(noise.encodeFrame(proto.HandshakeMessage.encode({ clientHello: { ephemeral: ephemeral.public } }).finish()))
  const hello = proto.HandshakeMessage.decode((await next()) as Uint8Array)
  const creds = initAuthCreds()
  const keyEnc = noise.processHandshake(hello, creds.noiseKey)
  const config = { ...DEFAULT_CONNECTION_CONFIG, browser: Browsers.macOS('Chrome') } as SocketConfig
  const payload = noise.encrypt(proto.ClientPayload.encode(generateRegistrationNode(creds, config)).finish())
  ws.send(noise.encodeFrame(proto.HandshakeMessage.encode({ clientFinish: { static: keyEnc, payload } }).finish()))
  await noise.finishInit()
  return { ws, noise, next }
}

test('random bytes, text, truncated and oversized frames close only that connection', { timeout: 30_000 }, async () => {
  const cases: Array<[string, (ws: WebSocket) => void]> = [
    ['random bytes', ws => ws.send(randomBytes(200))],
    ['a text message', ws => ws.send('hello')],
    ['a wrong intro header', ws => ws.send(Buffer.concat([Buffer.from('WA\x05\x02'), frame(randomBytes(32))]))],
    ['an ED routing prefix, then a wrong header', ws => ws.send(Buffer.from('ED\x00\x01\x00\x00\x02xxZZZZ'))],
    ['garbage instead of ClientHello', ws => ws.send(Buffer.concat([NOISE_WA_HEADER, frame(randomBytes(40))]))],
    ['an oversized frame', ws => ws.send(Buffer.concat([NOISE_WA_HEADER, Buffer.from([0xff, 0xff, 0xff]), randomBytes(64)]))]
  ]
  for (const [what, send] of cases) {
    const ws = await raw()
    send(ws)
    await closedByServer(ws).catch(err => assert.fail(`${what}: ${err.message}`))
  }

  // Truncated frames: the peer goes away mid-frame (and mid-intro); nothing to answer.
  for (const bytes of [Buffer.concat([NOISE_WA_HEADER, Buffer.from([0, 0, 100]), randomBytes(10)]), Buffer.from('WA')]) {
    const ws = await raw()
    ws.send(bytes)
    await new Promise(r => setTimeout(r, 50))
    ws.terminate()
  }

  // Many at once, in parallel.
  await Promise.all(
    Array.from({ length: 30 }, async () => {
      const ws = await raw()
      ws.send(randomBytes(1 + Math.floor(Math.random() * 300)))
      await closedByServer(ws)
    })
  )
})

test('a tampered (wrong tag) or undecodable frame after the handshake closes the connection', { timeout: 30_000 }, async () => {
  {
    const { ws, noise, next } = await handshake()
    const pairDevice = (await next()) as BinaryNode
    assert.equal(pairDevice.tag, 'iq', 'the handshake worked: the server asks to pair')
    const bytes = noise.encodeFrame(
      encodeBinaryNode({ tag: 'iq', attrs: { id: pairDevice.attrs.id ?? assert.fail('the pair-device iq has an id'), type: 'result', to: '@s.whatsapp.net' } })
    )
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 0x01, bytes.length - 1) // flips a bit of the GCM tag
    ws.send(bytes)
    await closedByServer(ws)
  }
  {
    const { ws, noise, next } = await handshake()
    await next()
    ws.send(noise.encodeFrame(encodeBinaryNode({ tag: 'iq', attrs: { id: 'x', type: 'get' } }).subarray(0, 3)))
    await closedByServer(ws)
  }
  {
    // A frame replayed from the same connection fails its counter.
    const { ws, noise, next } = await handshake()
    await next()
    const bytes = noise.encodeFrame(encodeBinaryNode({ tag: 'presence', attrs: { type: 'available' } }))
    ws.send(bytes)
    ws.send(bytes)
    await closedByServer(ws)
  }
  // Decoding the server's frames with Baileys' own decoder worked above; keep the import honest.
  assert.equal(typeof decodeBinaryNode, 'function')
})

test('unknown and mismatched devices are refused with 401', { timeout: 30_000 }, async () => {
  const unknown = initAuthCreds()
  unknown.me = { id: '15550009999:42@s.whatsapp.net', name: 'nobody' }
  const client = connectClient({ url: sim.url, auth: { state: { creds: unknown, keys: memoryKeys() }, saveCreds: async () => {} } })
  assert.equal(await client.waitForClose(10_000), DisconnectReason.loggedOut)
  await client.end()

  // The bot's noise key, but claiming another device number.
  const creds = JSON.parse(JSON.stringify(bot.sock.authState.creds, BufferJSON.replacer), BufferJSON.reviver)
  creds.me = { ...creds.me!, id: botJid.replace(/:\d+@/, ':77@') }
  const impostor = connectClient({ url: sim.url, auth: { state: { creds, keys: memoryKeys() }, saveCreds: async () => {} } })
  assert.equal(await impostor.waitForClose(10_000), DisconnectReason.loggedOut)
  await impostor.end()
})

test('after all of that the linked client still works and new devices can pair', { timeout: 30_000 }, async () => {
  const dave = sim.contact('15550004444', { name: 'Dave' })
  await dave.sendText('are you alive?', { to: botJid })
  assert.equal(textOf(await bot.nextMessage()), 'are you alive?')
  await bot.sock.sendMessage(dave.jid, { text: 'yes' })
  assert.equal((await dave.nextMessage()).text, 'yes')

  const other = await openStore('memory:sim-garbage-2')
  try {
    const auth = await other.useAuthState('second')
    await pair(sim, auth)
  } finally {
    await other.close()
  }
})

function memoryKeys() {
  const data: Record<string, Record<string, unknown>> = {}
  return {
    get: async (type: string, ids: string[]) => Object.fromEntries(ids.filter(id => data[type]?.[id] !== undefined).map(id => [id, data[type]?.[id]])),
    set: async (set: Record<string, Record<string, unknown>>) => {
      for (const type in set) for (const id in set[type]) (data[type] ??= {})[id] = set[type][id]
    }
  } as never
}
