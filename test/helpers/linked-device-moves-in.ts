/**
 * The importer tests' end-to-end claim for a layout written from a Baileys folder: a device linked
 * by makeWASocket (useMultiFileAuthState) talks with a contact, its folder is written in the
 * other project's layout and migrated to SQLite, and it logs in from there without a QR code;
 * messages decrypt both ways, with no retry receipt and no failed save.
 */
import assert from 'node:assert/strict'
import { useMultiFileAuthState } from '@whiskeysockets/baileys'
import { openStore } from '../../src/open-store.js'
import type { LinkedDevice, Simulator } from '../../src/sim/index.js'
import { migrateUrls } from './import-layouts.js'
import { textOf } from './sim-client.js'
import { login, pair } from './sim-lifecycle.js'

export interface LinkedDeviceMoveOptions {
  sim: Simulator
  /** The contact's phone number: each file its own, so their contacts never meet. */
  contactNumber: string
  /** Where the linked device's Baileys folder goes. */
  folder: string
  /** The project's name, in the text sent before the move ("on <label>"). */
  label: string
  /** Writes the linked device's folder in the project's layout: the URL to migrate from and the session it holds. */
  writeSource(linked: { device: LinkedDevice; folder: string }): Promise<{ url: string; session: string }>
  /** The SQLite store to migrate into. */
  target: string
}

export async function assertLinkedDeviceMovesIn(options: LinkedDeviceMoveOptions): Promise<void> {
  const { sim, target: to } = options
  const carol = sim.contact(options.contactNumber, { name: 'Carol' })
  const auth = await useMultiFileAuthState(options.folder)
  const device = await pair(sim, auth)
  const first = await login(sim, auth)
  await carol.sendText(`on ${options.label}`)
  assert.equal(textOf(await first.nextMessage()), `on ${options.label}`)
  await first.sock.sendMessage(carol.jid, { text: `reply on ${options.label}` })
  assert.equal((await carol.nextMessage()).text, `reply on ${options.label}`)
  await first.end()

  const source = await options.writeSource({ device, folder: options.folder })
  const result = await migrateUrls(source.url, to)
  assert.equal(result.ok, true)
  const target = await openStore(to)
  try {
    const migrated = await target.useAuthState(source.session)
    assert.equal(migrated.isNew, false)
    assert.equal(migrated.state.creds.me?.id, device.jid)
    const client = await login(sim, migrated)
    await carol.sendText('after moving in')
    assert.equal(textOf(await client.nextMessage()), 'after moving in')
    await client.sock.sendMessage(carol.jid, { text: 'reply after moving in' })
    assert.equal((await carol.nextMessage()).text, 'reply after moving in')
    await client.end()
    assert.deepEqual(client.saveErrors, [])
    assert.equal(carol.retryReceipts, 0)
    assert.deepEqual(carol.decryptErrors, [])
  } finally {
    await target.close()
  }
}
