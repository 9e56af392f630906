import { after, before, describe, it } from 'node:test'

/**
 * The four functions the suite registers its tests with. Node's own runner is the default;
 * a driver author on another runner passes its functions instead, e.g. with vitest:
 * `{ describe, it, before: beforeAll, after: afterAll }`.
 */
export interface TestRunner {
  describe(name: string, fn: () => void): unknown
  it(name: string, fn: () => Promise<void> | void): unknown
  /** Runs once before the tests of the enclosing `describe` (vitest/jest: `beforeAll`). */
  before(fn: () => Promise<void> | void): unknown
  /** Runs once after the tests of the enclosing `describe` (vitest/jest: `afterAll`). */
  after(fn: () => Promise<void> | void): unknown
}

export const nodeTestRunner: TestRunner = { describe, it, before, after }
