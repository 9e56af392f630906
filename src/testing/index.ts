/**
 * baileys-vault/testing: the conformance suite every driver passes, for third-party drivers.
 * Runs under node:test (`node --test`); see docs/testing-drivers.md.
 */
export { driverConformance, TRICKY_IDS, type DriverHarness, type RawReader } from './conformance.js'
