import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { initAuthCreds } from '@whiskeysockets/baileys'
import { isVaultError } from '../../src/core/errors.js'
import { toBufferJson } from '../../src/codec/buffer-json.js'
import { openStore } from '../../src/open-store.js'
import { runCli } from '../helpers/tools-cli.js'

const dir = () => mkdtempSync(join(tmpdir(), 'vault-errors-'))

/** Values JSON cannot hold, each with the word the error must name. */
function unstorable(): Array<[what: RegExp, value: unknown]> {
  const cycle: any = { keyId: 1 }
  cycle.self = cycle
  const cycleWithBytes: any = { public: Buffer.alloc(32) }
  cycleWithBytes.again = [cycleWithBytes]
  return [
    [/a function/, { public: Buffer.alloc(32), private: Buffer.alloc(32), sign: () => 1 }],
    [/a function/, { nested: { deep: [1, 2, () => 3] } }],
    [/a function/, () => 1],
    [/a circular reference/, cycle],
    [/a circular reference/, cycleWithBytes],
    [/a BigInt/, { keyId: 10n }],
    [/a BigInt/, { public: Buffer.alloc(1), counter: 10n }],
    [/a Symbol/, { keyId: Symbol('x') }],
    [/a Symbol/, { public: Buffer.alloc(1), tag: Symbol('x') }]
  ]
}

describe('values keys.set cannot store', () => {
  for (const kind of ['memory', 'sqlite', 'file']) {
    it(`${kind}: a function, cycle, BigInt or Symbol is INVALID_ARGUMENT naming the type and id; nothing is written`, async () => {
      const url = kind === 'memory' ? `memory:errors-${process.pid}` : kind === 'sqlite' ? `sqlite:${join(dir(), 'bot.db')}` : `file:${dir()}`
      const store = await openStore(url)
      try {
        const { state } = await store.useAuthState('bot')
        for (const [what, value] of unstorable()) {
          await assert.rejects(
            state.keys.set({ 'pre-key': { '1': { public: Buffer.alloc(32), private: Buffer.alloc(32) } }, session: { 'peer.0': value as any } }),
            (e: unknown) =>
              isVaultError(e, 'INVALID_ARGUMENT') &&
              what.test(e.message) &&
              e.message.includes('session "bot" session "peer.0"') &&
              !/keyId|sign|=>/.test(e.message),
            String(what)
          )
        }
        // All or nothing: the good key of each refused batch was not written either.
        assert.deepEqual(await state.keys.allIds('pre-key'), [])
        assert.deepEqual(await state.keys.allIds('session'), [])
        await assert.rejects(
          store.write('bot', { creds: { ...initAuthCreds(), extra: 1n } as any }),
          (e: unknown) => isVaultError(e, 'INVALID_ARGUMENT') && /session "bot" creds/.test(e.message)
        )
        assert.equal(await store.readCreds('bot'), undefined)
      } finally {
        await store.close()
      }
    })
  }

  it('keys.get with a number id is INVALID_ARGUMENT even when the same id is cached as a string', async () => {
    const store = await openStore(`memory:errors-get-${process.pid}`)
    try {
      const { state } = await store.useAuthState('bot')
      await state.keys.set({ 'pre-key': { '1': { public: Buffer.alloc(32), private: Buffer.alloc(32) } } })
      assert.ok((await state.keys.get('pre-key', ['1']))['1'], 'cached as a string id')
      await assert.rejects(state.keys.get('pre-key', [1 as any]), (e: unknown) => isVaultError(e, 'INVALID_ARGUMENT') && /pre-key/.test(e.message))
    } finally {
      await store.close()
    }
  })

  it('toBufferJson itself throws a VaultError, never a raw TypeError, and still skips inherited methods as JSON does', () => {
    for (const [what, value] of unstorable())
      assert.throws(
        () => toBufferJson(value),
        (e: unknown) => isVaultError(e, 'INVALID_ARGUMENT') && what.test(e.message)
      )
    class WithMethod {
      keyId = 1
    }
    // An enumerable method on the prototype is not the value's own data: JSON skips it.
    ;(WithMethod.prototype as any).describe = function () {}
    assert.equal(toBufferJson(new WithMethod()), '{"keyId":1}')
  })
})

describe('a missing session', () => {
  it('doctor --session and inspect --session agree: exit 2, NOT_FOUND naming the sessions held', async () => {
    const url = `sqlite:${join(dir(), 'bot.db')}`
    const store = await openStore(url)
    await store.write('alice', { creds: initAuthCreds() })
    await store.write('bob', { creds: initAuthCreds() })
    await store.close()
    for (const command of ['doctor', 'inspect']) {
      const run = await runCli([command, url, '--session', 'nope', '--json'])
      assert.equal(run.code, 2, command)
      assert.equal(run.json().error.code, 'NOT_FOUND', command)
      assert.match(run.json().error.message, /Session "nope" has no creds and no keys in .*: it is not in this store \(sessions: "alice", "bob"\)/, command)
    }
  })
})
