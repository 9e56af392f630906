/**
 * Generates test/fixtures/baileys-7-multifile (run: npm run fixtures): three linked devices,
 * alice, bob and carol, each a folder written by Baileys 7's own useMultiFileAuthState, with live
 * 1:1 sessions (alice<->bob, alice<->carol), a group with sender keys (alice and bob sent to it),
 * and on alice every SignalDataTypeMap type. Keys are fresh on every run; the layout is the same.
 *
 * Baileys' own functions make every value, each step as the socket does it (the file it mirrors
 * is named). What only a live phone or server sends is built in fixture-network.ts.
 */
import {
  chatModificationToAppPatch,
  configureSuccessfulPairing,
  Curve,
  encodeSyncdPatch,
  ensureLTHashStateVersion,
  generateMessageIDV2,
  getNextPreKeysNode,
  newLTHashState,
  parseAndInjectE2ESessions,
  unixTimestampSeconds,
  useMultiFileAuthState,
  type ChatModification
} from '@whiskeysockets/baileys'
import { buildMergedTcTokenIndexWrite, resolveTcTokenJid, storeTcTokensFromIqResult } from '@whiskeysockets/baileys/lib/Utils/tc-token-utils.js'
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { parseKeyFile } from '../src/drivers/file-names.js'
import { assertFixtureConversationContinues } from '../test/helpers/conversation-check.js'
import { FIXTURE_NAMES, FIXTURE_ROOT, GROUP, JID, PEOPLE, type FixtureName } from '../test/helpers/fixture-spec.js'
import { deliver, SignalDevice } from '../test/helpers/signal-device.js'
import { appStateSyncKeyShare, KeyServer, pairSuccess, privacyTokenResult } from './fixture-network.js'

/** One-time pre-keys each device uploads (Baileys uploads 812 on a real first login; 40 keep the folders small). */
const PRE_KEYS = 40
/** Key id of the app state sync key alice's phone shares: 'AAAAAG7f' in base64. */
const APP_STATE_KEY_ID = Buffer.from([0, 0, 0, 0, 0x6e, 0xdf])
/** Devices alice's usync learned: carol also has a companion (12) that alice has no session with. */
const DEVICE_LISTS: Partial<Record<FixtureName, string[]>> = { bob: ['0'], carol: ['0', '12'] }
const BAILEYS_VERSION: string = createRequire(import.meta.url)('@whiskeysockets/baileys/package.json').version

type Folder = Awaited<ReturnType<typeof useMultiFileAuthState>>

/** A fixture device: Baileys' folder store and its Signal repository over it. */
interface Device {
  name: FixtureName
  folder: Folder
  signal: SignalDevice
}

const creds = (d: Device) => d.folder.state.creds

async function main(): Promise<void> {
  for (const name of FIXTURE_NAMES) rmSync(join(FIXTURE_ROOT, name), { recursive: true, force: true })
  mkdirSync(FIXTURE_ROOT, { recursive: true })

  const server = new KeyServer()
  const alice = await linkDevice('alice', server)
  const bob = await linkDevice('bob', server)
  const carol = await linkDevice('carol', server)

  // alice writes to bob first (bob's pre-key 1); carol writes to alice first (alice's pre-key 1).
  await startSession(alice, bob, server)
  await deliver(alice.signal, bob.signal, 'hi bob')
  await issuePrivacyToken(alice, bob)
  await deliver(bob.signal, alice.signal, 'hi alice')
  await startSession(carol, alice, server)
  await deliver(carol.signal, alice.signal, 'hi alice, carol here')
  await deliver(alice.signal, carol.signal, 'hi carol')

  await sendToGroup(alice, [bob, carol], 'hello group')
  await sendToGroup(bob, [alice, carol], 'hello from bob')

  await shareAppStateKey(alice)
  await appPatch(alice, { pushNameSetting: 'alice' }, JID.alice)
  for (const peer of [bob, carol]) await appPatch(alice, { mute: Date.now() + 8 * 3600_000 }, JID[peer.name])
  for (const device of [alice, bob, carol]) await setPushName(device)
  await learnDevicesAndLids(alice, [bob, carol])

  const manifest = writeManifest([alice, bob, carol])
  await verifyConversationContinues()
  for (const name of FIXTURE_NAMES) console.log(`${name}: ${manifest.devices[name].files} files (${manifest.devices[name].keyTypes.join(', ')})`)
  console.log(`written to ${FIXTURE_ROOT}; the next message in every direction decrypts`)
}

/**
 * A fresh Baileys folder, linked by the account's phone (validate-connection.js,
 * configureSuccessfulPairing), through its first session, with its pre-keys uploaded.
 */
async function linkDevice(name: FixtureName, server: KeyServer): Promise<Device> {
  const folder = await useMultiFileAuthState(join(FIXTURE_ROOT, name))
  const { state, saveCreds } = folder
  const { pn, lid } = PEOPLE[name]
  const stanza = pairSuccess({
    accountKey: Curve.generateKeyPair(),
    identityKey: state.creds.signedIdentityKey.public,
    advSecretKey: state.creds.advSecretKey,
    jid: `${pn}:0@s.whatsapp.net`,
    lid: `${lid}:0@lid`,
    platform: 'android'
  })
  Object.assign(state.creds, configureSuccessfulPairing(stanza, state.creds).creds)
  // What the first session adds: registration confirmed (pairing-code flow, messages-recv.js),
  // edge routing (socket.js), the AB props hash (chats.js fetchProps), the first history sync
  // notification (process-message.js) and the initial app state sync (chats.js).
  Object.assign(state.creds, {
    registered: true,
    routingInfo: randomBytes(12),
    lastPropHash: randomBytes(4).toString('hex'),
    processedHistoryMessages: [
      { key: { remoteJid: JID[name], id: generateMessageIDV2(state.creds.me!.id), fromMe: true }, messageTimestamp: unixTimestampSeconds() }
    ],
    accountSyncCounter: state.creds.accountSyncCounter + 1
  })
  // Pre-key upload (socket.js uploadPreKeys).
  const { update, node } = await getNextPreKeysNode(state, PRE_KEYS)
  Object.assign(state.creds, update)
  server.upload(JID[name], node)
  await saveCreds()
  return { name, folder, signal: new SignalDevice(JID[name], state, saveCreds) }
}

/** `from` fetches `to`'s key bundle from the server and starts a session (messages-send.js assertSessions). */
async function startSession(from: Device, to: Device, server: KeyServer): Promise<void> {
  await parseAndInjectE2ESessions(server.bundle(JID[to.name]), from.signal.repo)
}

/** After a 1:1 send, the sender issues its privacy token to the contact (messages-send.js relayMessage). */
async function issuePrivacyToken(from: Device, to: Device): Promise<void> {
  const { keys } = from.signal
  const getLIDForPN = (pn: string) => from.signal.repo.lidMapping.getLIDForPN(pn)
  const tcTokenJid = await resolveTcTokenJid(JID[to.name], getLIDForPN)
  const issued = unixTimestampSeconds()
  await storeTcTokensFromIqResult({ result: privacyTokenResult(tcTokenJid, issued), fallbackJid: tcTokenJid, keys, getLIDForPN })
  const { [tcTokenJid]: current } = await keys.get('tctoken', [tcTokenJid])
  const indexWrite = await buildMergedTcTokenIndexWrite(keys, [tcTokenJid])
  await keys.set({ tctoken: { [tcTokenJid]: { ...current, token: current?.token ?? Buffer.alloc(0), senderTimestamp: issued }, ...indexWrite } })
}

/**
 * A group message: the sender's sender key encrypts it, each member processes the sender key
 * distribution message (it reaches them inside a 1:1 message), and the sender remembers who has
 * its key (messages-send.js relayMessage, 'sender-key-memory').
 */
async function sendToGroup(sender: Device, members: Device[], text: string): Promise<void> {
  const envelope = await sender.signal.sendGroup(GROUP, text)
  const memory: Record<string, boolean> = {}
  for (const member of members) {
    const got = await member.signal.receiveGroup(GROUP, JID[sender.name], envelope, true)
    if (got !== text) throw new Error(`${member.name} decrypted "${got}" from the group`)
    memory[JID[member.name]] = true
  }
  await sender.signal.keys.set({ 'sender-key-memory': { [GROUP]: memory } })
}

/** The phone shares its app state sync key with the companion (process-message.js APP_STATE_SYNC_KEY_SHARE). */
async function shareAppStateKey(device: Device): Promise<void> {
  for (const { keyId, keyData } of appStateSyncKeyShare(APP_STATE_KEY_ID)) {
    const strKeyId = Buffer.from(keyId!.keyId!).toString('base64')
    await device.signal.keys.set({ 'app-state-sync-key': { [strKeyId]: keyData! } })
    creds(device).myAppStateKeyId = strKeyId
  }
  await device.folder.saveCreds()
}

/** An app state change the device makes, and the LT hash state it keeps for it (chats.js appPatch). */
async function appPatch(device: Device, mod: ChatModification, jid: string): Promise<void> {
  const { keys } = device.signal
  const patchCreate = chatModificationToAppPatch(mod, jid)
  const name = patchCreate.type
  const { [name]: current } = await keys.get('app-state-sync-version', [name])
  const initial = current ? ensureLTHashStateVersion(current) : newLTHashState()
  const getAppStateSyncKey = async (keyId: string) => (await keys.get('app-state-sync-key', [keyId]))[keyId]
  const { state } = await encodeSyncdPatch(patchCreate, creds(device).myAppStateKeyId!, initial, getAppStateSyncKey)
  await keys.set({ 'app-state-sync-version': { [name]: state } })
}

/** The push name arrives by app state sync (chat-utils.js processSyncAction, pushNameSetting). */
async function setPushName(device: Device): Promise<void> {
  creds(device).me = { ...creds(device).me!, name: device.name }
  await device.folder.saveCreds()
}

/**
 * alice's usync learns her contacts' devices (messages-send.js getUSyncDevices, 'device-list') and
 * LIDs; each LID is stored with its reverse entry and her PN sessions move to the LID addresses
 * (messages-recv.js: storeLIDPNMappings, then migrateSession).
 */
async function learnDevicesAndLids(device: Device, contacts: Device[]): Promise<void> {
  const lists = Object.fromEntries(contacts.map(c => [PEOPLE[c.name].pn, DEVICE_LISTS[c.name]!]))
  await device.signal.keys.set({ 'device-list': lists })
  const { repo } = device.signal
  for (const contact of contacts) {
    const { pn, lid } = PEOPLE[contact.name]
    await repo.lidMapping.storeLIDPNMappings([{ lid: `${lid}@lid`, pn: `${pn}@s.whatsapp.net` }])
    await repo.migrateSession(`${pn}@s.whatsapp.net`, `${lid}@lid`)
  }
}

/** manifest.json: what each folder holds, read back from the files Baileys wrote. */
function writeManifest(all: Device[]) {
  const devices = {} as Record<FixtureName, { jid: string; me: unknown; files: number; keyTypes: string[] }>
  for (const device of all) {
    const { name } = device
    const files = readdirSync(join(FIXTURE_ROOT, name)).sort()
    const types = new Set<string>()
    for (const file of files) {
      if (file === 'creds.json') continue
      const key = parseKeyFile(file)
      if (!key || !('id' in key)) throw new Error(`Baileys wrote a file the file: driver cannot name: ${file}`)
      types.add(key.type)
    }
    devices[name] = { jid: JID[name], me: creds(device).me, files: files.length, keyTypes: [...types].sort() }
  }
  const manifest = {
    generatedBy: `scripts/make-fixtures.ts: Baileys ${BAILEYS_VERSION} useMultiFileAuthState + makeLibSignalRepository`,
    group: GROUP,
    devices,
    conversation:
      'alice<->bob and alice<->carol have open 1:1 sessions; alice and bob have sent to the group; the next message in any direction decrypts with the stored state'
  }
  writeFileSync(join(FIXTURE_ROOT, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n')
  return manifest
}

/** The conversation goes on from fresh copies of the folders (the fixture itself stays as written). */
async function verifyConversationContinues(): Promise<void> {
  const scratch = mkdtempSync(join(tmpdir(), 'vault-make-fixtures-'))
  try {
    const open = async (name: FixtureName) => {
      const dir = join(scratch, name)
      cpSync(join(FIXTURE_ROOT, name), dir, { recursive: true })
      const { state, saveCreds } = await useMultiFileAuthState(dir)
      return new SignalDevice(JID[name], state, saveCreds)
    }
    await assertFixtureConversationContinues({ alice: await open('alice'), bob: await open('bob'), carol: await open('carol') })
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
}

await main()
