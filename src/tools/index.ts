/**
 * baileys-vault/tools: the CLI's operations as functions, for scripts and admin endpoints.
 * Each takes open stores (see openStore) and an options object, and returns a result.
 */
export { migrate, type MigrateOptions, type MigrateResult, type MigrateSessionResult } from './migrate.js'
export { backup, type BackupOptions, type BackupResult } from './backup.js'
export type { BackupKeys } from './backup-seal.js'
export { restore, verifyBackup, type RestoreOptions, type RestoreResult, type VerifyBackupOptions } from './restore.js'
export type { Mismatch } from './verify.js'
export { doctor, type DoctorOptions, type DoctorResult, type DoctorSessionReport } from './doctor.js'
export type { Finding, Severity } from './findings.js'
export { ls, inspect, type LsResult, type InspectResult, type SessionSummary, type CredsSummary } from './inspect.js'
export { prune, type PruneOptions, type PruneResult } from './prune.js'
export { dropSession, type DropOptions, type DropResult } from './drop.js'
export { rotateKey, encryptionStatus, type RotateKeyOptions, type RotateKeyResult, type EncryptionStatus } from './rotate-key.js'
export { deriveKeyId } from '../codec/seal.js'
export type { ToolProgress, ProgressListener } from './progress.js'
