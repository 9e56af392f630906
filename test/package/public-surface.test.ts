import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { typecheck } from '../helpers/typecheck.js'

/**
 * What a user can import, by the published names (resolved through package.json "exports" to
 * dist/, the package build with internals stripped): each entry point's values, and the
 * published types without the Store's internals.
 */
const VALUES: Record<string, string[]> = {
  'baileys-vault': ['VaultError', 'encryptionFromEnv', 'isVaultError', 'openStore', 'silenceLibsignalSessionDumps', 'useFileAuthState', 'useSqliteAuthState'],
  'baileys-vault/tools': [
    'backup',
    'deriveKeyId',
    'doctor',
    'dropSession',
    'encryptionStatus',
    'inspect',
    'ls',
    'migrate',
    'prune',
    'restore',
    'rotateKey',
    'verifyBackup'
  ],
  'baileys-vault/drivers': [
    'LEASE_TTL_FLOOR_MS',
    'createFileDriver',
    'createMemoryDriver',
    'createPostgresDriver',
    'createRedisDriver',
    'createSqliteDriver',
    'leaseOwner',
    'parseStoreUrl',
    'redactUrl'
  ],
  'baileys-vault/testing': ['TRICKY_IDS', 'driverConformance']
}

const USER_CODE = `
import { openStore, useSqliteAuthState, useFileAuthState, VaultError, isVaultError, encryptionFromEnv, silenceLibsignalSessionDumps } from 'baileys-vault'
import type { Store, VaultAuthState, VaultKeyStore, AuthStateOptions, OpenStoreOptions, VaultErrorCode, EncryptionOptions } from 'baileys-vault'
import { migrate, backup, restore, verifyBackup, doctor, inspect, ls, prune, rotateKey, encryptionStatus } from 'baileys-vault/tools'
import type { MigrateOptions, BackupResult, DoctorResult, Finding, RotateKeyResult } from 'baileys-vault/tools'
import { createMemoryDriver, createSqliteDriver, createFileDriver, createPostgresDriver, createRedisDriver } from 'baileys-vault/drivers'
import type { Driver, DriverCapabilities, WriteBatch, ListEntry, ListOptions, SnapshotReader } from 'baileys-vault/drivers'
import { driverConformance, type DriverHarness, type RawReader } from 'baileys-vault/testing'
import { startSession, type Session } from 'baileys-vault/runtime'
import { startSimulator } from 'baileys-vault/sim'
// @ts-expect-error driver factories are in baileys-vault/drivers, not the bot's entry point
import { createMemoryDriver as notHere } from 'baileys-vault'

export async function bot(): Promise<void> {
  silenceLibsignalSessionDumps()
  const store: Store = await openStore(createMemoryDriver())
  const kind: string = store.kind
  const creds: Uint8Array | undefined = await store.readRawCreds('main')
  const linked: boolean = await store.hasCreds('main')
  // @ts-expect-error the driver is internal: tools use the Store's methods
  store.driver.getCreds('main')
  // @ts-expect-error internal
  store.guard('reading', 'main', async () => 1)
  // @ts-expect-error internal
  store.codec.currentKeyId
  // @ts-expect-error internal
  void store.trackWrites
  // @ts-expect-error internal: a Session's lifecycle is the runtime's (startSession, createRuntime)
  void ({} as Session).begin
  // @ts-expect-error internal
  void ({} as Session).takeLeaseFirst
  const sealed: boolean = store.protectionOf(creds ?? new Uint8Array()).sealed
  void sealed
  void [kind, creds, linked]
}
`

describe('the public surface', () => {
  for (const [entry, names] of Object.entries(VALUES)) {
    it(`${entry} exports exactly its values`, async () => {
      const module = await import(entry)
      assert.deepEqual(Object.keys(module).sort(), names)
    })
  }

  it('baileys-vault/runtime and baileys-vault/sim load by their published names', async () => {
    assert.equal(typeof (await import('baileys-vault/runtime')).startSession, 'function')
    assert.equal(typeof (await import('baileys-vault/sim')).startSimulator, 'function')
  })

  it('user code type-checks against every entry point, and the Store internals are not in the published types', () => {
    const errors = typecheck({ 'user.ts': USER_CODE }, 'surface-')
    assert.equal(errors, undefined, `the published types reject user code:\n${errors}`)
  })
})
