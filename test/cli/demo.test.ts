/**
 * `baileys-vault demo` as users run it (`npx baileys-vault demo`): the built bin in a child
 * process, offline. Every step must report ok and the process must exit 0, within a minute.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { spawnCli } from '../helpers/run-child.js'

const STEPS = [
  '1. link',
  '2. a contact sends "ping"',
  '3. the socket is killed',
  '4a. the server asks for a restart',
  '4b. the connection goes silent',
  '5. graceful stop'
]

test('baileys-vault demo --json: every step ok, exit 0', { timeout: 60_000 }, async () => {
  const demo = spawnCli(['demo', '--json'])
  try {
    const { code } = await demo.exited(55_000)
    assert.equal(code, 0, `demo exits 0; stderr: ${demo.stderr()}`)
    const steps = demo.events.filter(e => e.event === 'step')
    assert.deepEqual(
      steps.map(s => STEPS.find(prefix => s.step.startsWith(prefix))),
      STEPS,
      `every step ran, in order: ${JSON.stringify(steps)}`
    )
    for (const s of steps) assert.equal(s.ok, true, `${s.step}: ${s.detail}`)
    assert.deepEqual(demo.events.at(-1), { event: 'done', ok: true, ms: demo.events.at(-1)?.ms })
    const states = demo.events.filter(e => e.event === 'state').map(e => e.state)
    assert.equal(states.at(-1), 'stopped')
    assert.ok(states.filter(s => s === 'connected').length >= 4, `connected after linking and after each of 3 disruptions: ${states}`)
    assert.match(demo.stderr(), /demo ok: 6 steps/)
  } finally {
    demo.kill()
  }
})
