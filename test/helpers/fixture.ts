import { useMultiFileAuthState } from '@whiskeysockets/baileys'
import { cpSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Store } from '../../src/store/store.js'
import { parseKeyFile } from '../../src/drivers/file-names.js'
import { FIXTURE_ROOT, JID, type FixtureName } from './fixture-spec.js'
import { SignalDevice } from './signal-device.js'

export { FIXTURE_ROOT, GROUP, JID, type FixtureName } from './fixture-spec.js'

/** What the generator wrote (scripts/make-fixtures.ts): per device its jid, me, file count and key types. */
export const manifest = JSON.parse(readFileSync(join(FIXTURE_ROOT, 'manifest.json'), 'utf8'))

/** A private copy of one fixture folder: Signal state changes as messages flow. */
export function copyFixture(name: FixtureName): string {
  const dir = join(mkdtempSync(join(tmpdir(), `vault-fixture-${name}-`)), name)
  cpSync(join(FIXTURE_ROOT, name), dir, { recursive: true })
  return dir
}

/** (type, id) of every key file in a Baileys folder, read back the way the file: store does. */
export function listBaileysFolder(folder: string): Array<[type: string, id: string]> {
  const out: Array<[string, string]> = []
  for (const file of readdirSync(folder)) {
    if (file === 'creds.json' || !file.endsWith('.json')) continue
    const key = parseKeyFile(file)
    if (!key || !('id' in key) || key.id === undefined) throw new Error(`not a Baileys key file: ${file}`)
    out.push([key.type, key.id])
  }
  return out
}

/** Every key of a Baileys folder as Baileys' own store reads it. */
export async function readBaileysFolder(folder: string) {
  const { state } = await useMultiFileAuthState(folder)
  const keys: Array<[string, string, unknown]> = []
  for (const [type, id] of listBaileysFolder(folder)) {
    const got = await state.keys.get(type as any, [id])
    keys.push([type, id, got[id]])
  }
  return { creds: state.creds, keys }
}

/** Small import helper (the migrate tool does this for real): Baileys folder → store session. */
export async function importBaileysFolder(store: Store, folder: string, session: string): Promise<number> {
  const { creds, keys } = await readBaileysFolder(folder)
  await store.write(session, { creds, set: keys })
  return keys.length
}

/** A fixture device running on Baileys' own useMultiFileAuthState (the other side of a conversation). */
export async function baileysFolderDevice(name: FixtureName, folder = copyFixture(name)): Promise<SignalDevice> {
  const { state, saveCreds } = await useMultiFileAuthState(folder)
  return new SignalDevice(JID[name], state, saveCreds)
}

/**
 * One fixture folder in numbers, for assertions that follow the fixture rather than hard-code
 * it: keys (files but creds.json), keys per type, and the creds as Baileys reads them.
 */
export function fixtureFacts(name: FixtureName) {
  const keys = listBaileysFolder(join(FIXTURE_ROOT, name))
  const byType: Record<string, number> = {}
  for (const [type] of keys) byType[type] = (byType[type] ?? 0) + 1
  const creds = JSON.parse(readFileSync(join(FIXTURE_ROOT, name, 'creds.json'), 'utf8'))
  return { keys: keys.length, byType, registrationId: creds.registrationId as number, nextPreKeyId: creds.nextPreKeyId as number }
}
