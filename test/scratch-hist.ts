import { pino } from 'pino'
import { openStore } from '../src/open-store.js'
import { startSimulator, trustSimulator } from '../src/sim/index.js'
import { pair, login } from './helpers/sim-lifecycle.js'
const sim = await startSimulator({ log: m => console.log('SIM', m) })
trustSimulator(sim)
const store = await openStore('memory:x')
const auth = await store.useAuthState('bot')
await pair(sim, auth)
const logger = pino({ level: 'info' })
let t = Date.now()
const c1 = await login(sim, auth, { logger })
console.log('first open', Date.now() - t)
await new Promise(r => setTimeout(r, 3000))
await c1.end()
t = Date.now()
const c2 = await login(sim, auth, { logger })
console.log('second open', Date.now() - t)
await c2.end()
await sim.stop()
