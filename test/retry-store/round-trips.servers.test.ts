/**
 * The retry store's record of a send adds no round trip and no flush of its own (issue 21's
 * budget): it rides the commit of the keys its send writes right after it. Counted, not timed:
 * PostgreSQL queries sent, Redis commands sent, fdatasyncs of SQLite's WAL. SQLite runs with
 * every flush made by the barrier (`inlineFlushBelowMs: 0`): a lone commit of the default carries
 * its fsync inside COMMIT, where JavaScript cannot count it (that a send's keys commit carries its
 * record there too is group-commit.test.ts's, and a power cut below JavaScript is
 * sqlite-power-cut.test.ts's).
 * The control, a record with no keys write after it, shows that the counters see a record's
 * own trip. Also: the record's stored bytes are exactly what encodeValue makes of `{ m }`.
 */
import assert from 'node:assert/strict'
import fs, { mkdtempSync, rmSync } from 'node:fs'
import { syncBuiltinESMExports } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import pg from 'pg'
import { Redis } from 'ioredis'
import { proto } from '@whiskeysockets/baileys'
import { openStore } from '../../src/open-store.js'
import { encodeValue } from '../../src/codec/values.js'
import { messageBody, type SendingSocket } from '../../src/store/message-store.js'
import { freshPostgres, freshRedis } from '../helpers/servers.js'

const temps: string[] = []
after(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true })
})

/** Counts calls of `owner[key]` while `fn` runs. */
async function counting(fn: () => Promise<void>): Promise<{ queries: number; commands: number; syncs: number; inline: number }> {
  const counts = { queries: 0, commands: 0, syncs: 0, inline: 0 }
  const wrap = <T extends object>(owner: T, key: keyof T, counter: keyof typeof counts) => {
    const original = owner[key] as (...args: unknown[]) => unknown
    owner[key] = function (this: unknown, ...args: unknown[]) {
      counts[counter]++
      return original.apply(this, args)
    } as T[keyof T]
    return () => void (owner[key] = original as T[keyof T])
  }
  const restores = [
    wrap(pg.Client.prototype, 'query', 'queries'),
    wrap(Redis.prototype, 'sendCommand', 'commands'),
    wrap(fs, 'fdatasync', 'syncs'),
    wrap(fs, 'fdatasyncSync', 'inline')
  ]
  syncBuiltinESMExports()
  try {
    await fn()
    return counts
  } finally {
    for (const restore of restores) restore()
    syncBuiltinESMExports()
  }
}

const SENDS = 10
const targets = [
  {
    name: 'sqlite',
    url: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'vault-trips-'))
      temps.push(dir)
      return { url: `sqlite:${join(dir, 'store.db')}`, cleanup: undefined, options: { sqlite: { inlineFlushBelowMs: 0 } } }
    }
  },
  { name: 'postgres', url: () => freshPostgres('trips') },
  { name: 'redis', url: () => freshRedis('trips') }
]

describe('retry store: recording a send adds no round trip or flush of its own', () => {
  for (const target of targets) {
    it(`${target.name}: a send with the record costs what the same send costs without it; a record alone costs one more (control)`, async () => {
      const { url, cleanup, options } = await target.url()
      const store = await openStore(url, options)
      try {
        const auth = await store.useAuthState('bot')
        await auth.saveCreds()
        const messages = await store.useMessageStore('bot')
        let n = 0
        // A send in Baileys' order: the record starts, then the encrypt writes the session's keys.
        const sock: SendingSocket = {
          sendMessage: async () => undefined,
          relayMessage: async jid => {
            await auth.state.keys.set({ session: { [jid]: { n: n++ } } } as never)
            return ''
          }
        }
        messages.record(sock)
        const send = (i: number) => sock.relayMessage(`1555000${i % 3}@s.whatsapp.net`, { conversation: `reply ${i}` }, { messageId: `ID${n}X${i}` })
        const keysOnly = (i: number) => auth.state.keys.set({ session: { [`1555000${i % 3}@s.whatsapp.net`]: { n: n++ } } } as never)
        const sends = (one: (i: number) => Promise<unknown>) =>
          counting(async () => {
            for (let i = 0; i < SENDS; i++) await one(i)
          })
        await sends(send) // warm: tables, prepared statements, script loaded
        await sends(keysOnly)
        const off = await sends(keysOnly)
        const on = await sends(send)
        const trips = (c: typeof on) => ({ queries: c.queries, commands: c.commands, flushes: c.syncs + c.inline })
        assert.deepEqual(trips(on), trips(off), `the records rode the keys' commits: ${JSON.stringify({ on, off })}`)
        assert.equal(messages.stats().recorded, 2 * SENDS)
        if (target.name === 'sqlite') assert.equal(trips(on).flushes, SENDS, 'each send flushed once')

        const alone = await sends(i => messages.recordMessage({ jid: `1555000${i % 3}@s.whatsapp.net`, id: `ALONE${i}`, message: { conversation: 'x' } }))
        const { queries, commands, flushes } = trips(alone)
        assert.equal(queries + commands + flushes, SENDS, `control: a record with nothing to ride costs its own trip: ${JSON.stringify(alone)}`)
      } finally {
        await store.close()
        await cleanup?.()
      }
    })
  }

  it("a record's stored body is byte for byte encodeValue({ m: <protobuf bytes> }) (the tools copy and check it as any value)", () => {
    const samples: proto.IMessage[] = [
      { conversation: 'hello' },
      { extendedTextMessage: { text: 'ünïcödé ✓ "quoted" \\ back\nline', contextInfo: { stanzaId: 'ABC' } } },
      { imageMessage: { mediaKey: Buffer.alloc(32, 7), fileSha256: Buffer.alloc(32, 9), caption: 'pic' } },
      {}
    ]
    for (const message of samples) {
      const bytes = Buffer.from(proto.Message.encode(message).finish())
      const expected = Buffer.from(encodeValue({ m: bytes })).subarray(1) // without the format byte
      assert.deepEqual(messageBody(message), expected)
    }
  })
})
