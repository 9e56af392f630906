import type { Driver } from '../core/driver.js'
import { capabilities } from './behaviours/capabilities.js'
import { idsAndValues } from './behaviours/ids-and-values.js'
import { leases } from './behaviours/leases.js'
import { listing } from './behaviours/listing.js'
import { readAndWrite } from './behaviours/read-write.js'
import { readOnly } from './behaviours/read-only.js'
import { sessionsApart } from './behaviours/sessions.js'
import { storeLayer } from './behaviours/store-layer.js'
import type { DriverHarness, SuiteContext } from './harness.js'
import { nodeTestRunner, type TestRunner } from './runner.js'

export { until, TRICKY_IDS } from './util.js'

/**
 * The conformance suite every driver passes. `name` labels the tests; `make` builds a harness
 * on a fresh, empty backend; `runner` registers the tests (node:test unless given).
 */
export function driverConformance(name: string, make: () => Promise<DriverHarness>, runner: TestRunner = nodeTestRunner): void {
  runner.describe(`driver conformance: ${name}`, () => {
    let harness: DriverHarness | undefined
    let driver: Driver | undefined
    let n = 0
    const opened = <T>(value: T | undefined, what: string): T => {
      if (value === undefined) throw new Error(`driver conformance: the ${what} is not ready (its before hook failed)`)
      return value
    }
    const ctx: SuiteContext = {
      runner,
      harness: () => opened(harness, 'harness'),
      driver: () => opened(driver, 'driver'),
      reopen: async () => {
        await opened(driver, 'driver').close()
        driver = await opened(harness, 'harness').open()
        return driver
      },
      sid: label => `s${++n}-${label}`
    }

    runner.before(async () => {
      harness = await make()
      driver = await harness.open()
    })
    runner.after(async () => {
      await driver?.close()
      await harness?.cleanup?.()
    })

    readAndWrite(ctx)
    idsAndValues(ctx)
    sessionsApart(ctx)
    listing(ctx)
    storeLayer(ctx)
    capabilities(ctx)
    readOnly(ctx)
    leases(ctx)
  })
}
