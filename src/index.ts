/**
 * baileys-vault: durable session storage for Baileys. What a bot needs:
 *
 *   const store = await openStore('sqlite:./baileys.db')
 *   const { state, saveCreds } = await store.useAuthState('main')
 *
 * Other entry points: baileys-vault/tools (migrate, backup, restore, doctor, …),
 * baileys-vault/drivers (driver factories and the Driver contract), baileys-vault/testing
 * (the driver conformance suite), baileys-vault/runtime (sessions kept alive),
 * baileys-vault/sim (a local WhatsApp simulator).
 */
export { openStore, useSqliteAuthState, useFileAuthState, type OpenStoreOptions } from './open-store.js'
export type { AuthStore as Store } from './auth/auth-store.js'
export type { VaultAuthState, VaultKeyStore, AuthStateOptions } from './auth/auth-state.js'
export { VaultError, isVaultError, type VaultErrorCode } from './core/errors.js'
export { encryptionFromEnv, type EncryptionOptions } from './codec/seal.js'
/** For bots that use useAuthState without the runtime (startSession/createRuntime call it themselves). */
export { silenceLibsignalSessionDumps } from './runtime/quiet-libsignal.js'
export type { LeaseGrant, LeaseInfo } from './core/driver.js'
