/**
 * The shared suites each server-backed driver (PostgreSQL, Redis) runs, in this order: a server
 * outage (stopped and started again), Baileys' own Signal code, the tools and SIGKILL mid-traffic,
 * each plain and with encryption at rest. `fresh(label)` gives an empty store on the test server.
 */
import { crashSuite } from './crash-suite.js'
import { testEncryption } from './encryption-keys.js'
import { realClientSuite, type StoreTarget } from './real-client-suite.js'
import { outageSuite } from './servers.js'
import { toolsSuite } from './tools-suite.js'

export function serverDriverSuites(options: {
  name: string
  fresh: (label: string) => Promise<StoreTarget>
  server: { stop(): Promise<void>; start(): Promise<void> }
}): void {
  const { name, fresh } = options
  outageSuite(name, () => fresh('outage'), options.server)
  realClientSuite(name, () => fresh('realclient'))
  realClientSuite(`${name}, encrypted`, async () => ({ ...(await fresh('realclient_enc')), options: { encryption: testEncryption() } }))
  toolsSuite(name, () => fresh('tools'))
  crashSuite(name, () => fresh('crash'))
  const toolsEncryption = testEncryption()
  toolsSuite(`${name}, encrypted`, async () => ({ ...(await fresh('tools_enc')), options: { encryption: toolsEncryption } }))
  // The encrypted repeat runs as many kills as the plain one (CRASH_KILLS).
  crashSuite(`${name}, encrypted`, async () => ({ ...(await fresh('crash_enc')), options: { encryption: testEncryption() } }))
}
