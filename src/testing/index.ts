/**
 * baileys-vault/testing: the conformance suite every driver passes, for third-party drivers.
 * Runs under node:test by default, or any runner passed in; see docs/testing-drivers.md.
 */
export { driverConformance } from './conformance.js'
export { TRICKY_IDS } from './util.js'
export type { DriverHarness, RawReader } from './harness.js'
export type { TestRunner } from './runner.js'
