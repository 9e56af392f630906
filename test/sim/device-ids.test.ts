/**
 * The simulator never links a companion as device 99: WhatsApp keeps that id for hosted devices
 * and Baileys refuses to send to an account that lists it ("Unexpected non-hosted device JID with
 * device 99"). Found by the full soak, which links 100 sessions to one account: after the 99th,
 * no session of it could answer a message.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Account } from '../../src/sim/state.js'

test('device ids run 1, 2, … and skip 99', () => {
  const account = new Account('15550009999', '88880009999')
  const ids = Array.from({ length: 101 }, () => account.takeDeviceId())
  assert.deepEqual(ids.slice(0, 3), [1, 2, 3])
  assert.ok(!ids.includes(99), 'device 99 is never handed out')
  assert.deepEqual(ids.slice(97), [98, 100, 101, 102])
  assert.equal(new Set(ids).size, ids.length, 'no id twice')
})
