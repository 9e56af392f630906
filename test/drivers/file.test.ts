import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, existsSync, truncateSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { describe, it, after } from 'node:test'
import { fileURLToPath } from 'node:url'
import { initAuthCreds, useMultiFileAuthState, type SignalDataTypeMap } from '@whiskeysockets/baileys'
import { createFileDriver } from '../../src/drivers/file.js'
import { encodeJournal } from '../../src/drivers/file-io.js'
import { decodeRecords } from '../../src/drivers/file-log-format.js'
import { keyFile, parseKeyFile, sessionFolder, parseSessionFolder, MAX_NAME_BYTES } from '../../src/drivers/file-names.js'
import { openStore } from '../../src/open-store.js'
import { isVaultError } from '../../src/core/errors.js'
import { driverConformance, TRICKY_IDS } from '../../src/testing/index.js'
import { copyFixture, manifest, JID, GROUP, baileysFolderDevice, FIXTURE_ROOT, type FixtureName } from '../helpers/fixture.js'
import { SignalDevice } from '../helpers/signal-device.js'
import { realClientSuite } from '../helpers/real-client-suite.js'
import { crashSuite } from '../helpers/crash-suite.js'
import { toolsSuite } from '../helpers/tools-suite.js'
import { testEncryption } from '../helpers/encryption-keys.js'
import { KEYS, SESSIONS } from '../helpers/file-crash-child.js'
import { rawDriver } from '../helpers/raw-driver.js'

const temps: string[] = []
const tempRoot = (label: string) => {
  const dir = mkdtempSync(join(tmpdir(), `vault-file-${label}-`))
  temps.push(dir)
  return dir
}
after(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true })
})
const text = (s: string) => Buffer.from(s, 'utf8')
const collect = async <T>(it: AsyncIterable<T>) => {
  const out: T[] = []
  for await (const x of it) out.push(x)
  return out
}
/** Every file and folder under `dir`, relative, recursively. */
const walk = (dir: string, base = dir): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap(e => {
    const path = join(dir, e.name)
    return e.isDirectory() ? [relative(base, path) + '/', ...walk(path, base)] : [relative(base, path)]
  })

// ---------------------------------------------------------------------------------------------
// Conformance, with a raw reader that reads the files itself.

/**
 * The committed writes of a folder not yet in its files: its commit logs (`.vault-log-N`)
 * decoded in order, newest per file (null: deleted). The files plus these are the backend.
 */
function loggedInFolder(dir: string): Map<string, Buffer | null> {
  const out = new Map<string, Buffer | null>()
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return out
  }
  const logs = names.filter(n => /^\.vault-log-\d+$/.test(n)).sort((a, b) => Number(a.slice(11)) - Number(b.slice(11)))
  for (const name of logs)
    for (const ops of decodeRecords(readFileSync(join(dir, name)))) for (const op of ops) out.set(op.target, op.value ? Buffer.from(op.value) : null)
  return out
}

driverConformance('file', async () => {
  const root = join(tempRoot('conformance'), 'auth_info_baileys')
  // Conformance sessions are plain names (`s3-many`), so their folder is the session id itself.
  const folder = (s: string) => (s === 'default' ? root : join(root, s))
  const read = (dir: string, name: string) => {
    const logged = loggedInFolder(dir)
    if (logged.has(name)) return logged.get(name) ?? undefined
    try {
      return readFileSync(join(dir, name))
    } catch {
      return undefined
    }
  }
  return {
    open: () => createFileDriver({ path: root }),
    openReadOnly: () => createFileDriver({ path: root, readOnly: true }),
    snapshot: false,
    raw: {
      creds: async s => read(folder(s), 'creds.json'),
      key: async (s, t, id) => read(folder(s), keyFile(t, id).file),
      countKeys: async s => {
        let names: string[]
        try {
          names = readdirSync(folder(s))
        } catch {
          names = []
        }
        const logged = loggedInFolder(folder(s))
        return [...new Set([...names, ...logged.keys()])].filter(n => n.endsWith('.json') && n !== 'creds.json' && !n.startsWith('.') && logged.get(n) !== null)
          .length
      }
    }
  }
})

// ---------------------------------------------------------------------------------------------

describe('file driver: names', () => {
  it("uses Baileys' own file name for every id Baileys produces", () => {
    const cases: Array<[string, string, string]> = [
      ['pre-key', '12', 'pre-key-12.json'],
      ['session', '15550000001.0', 'session-15550000001.0.json'],
      ['session', '90000000000002_1.0', 'session-90000000000002_1.0.json'],
      ['sender-key', '120363000000000001@g.us::15550000002::0', 'sender-key-120363000000000001@g.us--15550000002--0.json'],
      ['sender-key', '15550000001-1600000000@g.us::90000000000002_1::3', 'sender-key-15550000001-1600000000@g.us--90000000000002_1--3.json'],
      ['sender-key-memory', '120363000000000001@g.us', 'sender-key-memory-120363000000000001@g.us.json'],
      ['sender-key-memory', '15550000001-1600000000@g.us', 'sender-key-memory-15550000001-1600000000@g.us.json'],
      ['app-state-sync-key', 'AAAAAG7f', 'app-state-sync-key-AAAAAG7f.json'],
      ['app-state-sync-key', 'ab/c+d//e=', 'app-state-sync-key-ab__c+d____e=.json'],
      ['app-state-sync-version', 'critical_block', 'app-state-sync-version-critical_block.json'],
      ['lid-mapping', '90000000000002_reverse', 'lid-mapping-90000000000002_reverse.json'],
      ['device-list', '15550000002', 'device-list-15550000002.json'],
      ['tctoken', '__index', 'tctoken-__index.json'],
      ['tctoken', '90000000000002@lid', 'tctoken-90000000000002@lid.json'],
      ['identity-key', '15550000003.0', 'identity-key-15550000003.0.json']
    ]
    for (const [type, id, file] of cases) {
      assert.deepEqual(keyFile(type, id), { file }, `${type} ${id}`)
      assert.deepEqual(parseKeyFile(file), { type, id })
    }
    // Every file of every fixture folder reads back as itself.
    for (const name of ['alice', 'bob', 'carol']) {
      for (const file of readdirSync(join(FIXTURE_ROOT, name))) {
        if (file === 'creds.json') continue
        const key = parseKeyFile(file)
        assert.ok(key && 'id' in key, file)
        assert.equal(keyFile(key.type, key.id).file, file)
      }
    }
  })

  it('escapes ids whose Baileys name would be ambiguous or unsafe, and hashes very long ones', () => {
    const cases: Array<[string, string, string]> = [
      ['session', '../../etc/passwd', 'session%..%2F..%2Fetc%2Fpasswd.json'],
      ['session', 'a/b\\c', 'session%a%2Fb%5Cc.json'],
      ['session', '120363000000000001@g.us::15550000002::0', 'session%120363000000000001@g.us%3A%3A15550000002%3A%3A0.json'],
      ['session', 'a-b', 'session-a-b.json'],
      ['session', 'a:b', 'session%a%3Ab.json'],
      ['session', '100%', 'session%100%25.json'],
      ['app-state-sync-key', '__index', 'app-state-sync-key%__index.json'],
      ['sender-key', 'memory-x::1::0', 'sender-key%memory-x%3A%3A1%3A%3A0.json'],
      ['pre-key', 'tab\there', 'pre-key%tab%09here.json'],
      ['foo-bar', 'x', 'foo-bar%x.json'],
      ['foo', 'bar-x', 'foo-bar-x.json']
    ]
    for (const [type, id, file] of cases) {
      assert.deepEqual(keyFile(type, id), { file }, `${type} ${JSON.stringify(id)}`)
      assert.deepEqual(parseKeyFile(file), { type, id })
    }
    const long = keyFile('session', 'x'.repeat(400))
    assert.match(long.file, /^session%~[0-9a-f]{32}\.json$/)
    assert.equal(long.idFile, long.file.replace(/\.json$/, '.id'))
    for (const bad of ['', 'a\u0000b', '\ud800x'])
      assert.throws(
        () => keyFile('session', bad),
        (e: unknown) => isVaultError(e, 'INVALID_ARGUMENT')
      )
    for (const bad of ['../x', 'a/b', 'Session', '', '.x'])
      assert.throws(
        () => keyFile(bad, '1'),
        (e: unknown) => isVaultError(e, 'INVALID_ARGUMENT')
      )
  })

  it('maps every (type, id) to one safe name that reads back exactly (randomised)', () => {
    const alphabet = ['/', ':', '-', '--', '_', '__', '%', '.', '..', '\\', 'a', 'Z', '0', '~', 'é', '😀', ' ', '@', '::', '\n', '*', 'memory-']
    const types = ['pre-key', 'session', 'sender-key', 'sender-key-memory', 'app-state-sync-key', 'tctoken', 'custom', 'my-type', 'x-']
    let seed = 42
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n)
    const byName = new Map<string, string>()
    for (let i = 0; i < 20_000; i++) {
      const type = types[rand(types.length)] ?? assert.fail('rand(n) is below n')
      let id = ''
      const parts = 1 + rand(i % 50 === 0 ? 200 : 8)
      for (let j = 0; j < parts; j++) id += alphabet[rand(alphabet.length)]
      const { file, idFile } = keyFile(type, id)
      // eslint-disable-next-line no-control-regex -- NUL must never be in a file name
      assert.ok(!/[/\\\u0000]/.test(file) && !file.startsWith('.') && Buffer.byteLength(file) <= MAX_NAME_BYTES, file)
      const owner = `${type}\u0000${id}`
      assert.equal(byName.get(file) ?? owner, owner, `two keys share ${file}`)
      byName.set(file, owner)
      const back = parseKeyFile(file)
      if (idFile) assert.deepEqual(back, { type, idFile })
      else assert.deepEqual(back, { type, id }, `${type} ${JSON.stringify(id)} -> ${file}`)
    }
  })

  it('names session folders safely and reads them back', () => {
    assert.deepEqual(sessionFolder('default'), {})
    const cases: Array<[string, string]> = [
      ['alice', 'alice'],
      ['bot 1', 'bot 1'],
      ['ünï', 'ünï'],
      ['a/b', '%a%2Fb'],
      ['..', '%..'],
      ['.hidden', '%.hidden'],
      ['creds.json', '%creds.json'],
      ['x.', '%x.'],
      ['CON', '%CON'],
      ['100%', '%100%25'],
      ['%41', '%%2541']
    ]
    for (const [session, name] of cases) {
      assert.equal(sessionFolder(session).name, name, session)
      assert.deepEqual(parseSessionFolder(name), { session })
    }
    const long = sessionFolder('é'.repeat(128))
    assert.match(long.name!, /^%~[0-9a-f]{32}$/)
    assert.equal(long.hashed, true)
    for (const foreign of ['default', '.vault-trash-1', '%zz', '%2F']) assert.equal(parseSessionFolder(foreign), undefined, foreign)
    for (const bad of ['', 'a\u0000', '\udc00'])
      assert.throws(
        () => sessionFolder(bad),
        (e: unknown) => isVaultError(e, 'INVALID_ARGUMENT')
      )
  })
})

// ---------------------------------------------------------------------------------------------

describe('file driver: layout, sessions and safety', () => {
  it('keeps every file inside the root whatever the session and id', async () => {
    const parent = tempRoot('escape')
    const root = join(parent, 'root')
    const d = await createFileDriver({ path: root })
    const sessions = ['default', '../outside', '..', '/etc', 'a\\b', '.', 'é'.repeat(120), 'x'.repeat(128)]
    for (const s of sessions) {
      await d.write(s, { creds: text(`c ${s}`), set: TRICKY_IDS.map(id => ['session', id, text(id)] as [string, string, Uint8Array]), del: [] })
    }
    assert.deepEqual(readdirSync(parent), ['root'], 'nothing was written beside the root')
    for (const s of sessions) {
      assert.equal(Buffer.from((await d.getCreds(s))!).toString(), `c ${s}`)
      const listed = (await collect(d.list(s, 'session'))).map(([, id]) => id)
      assert.deepEqual(listed.sort(), [...TRICKY_IDS].sort(), s)
    }
    assert.deepEqual((await collect(d.sessions())).sort(), [...sessions].sort())
    await assert.rejects(d.write('s', { set: [['../x', '1', text('v')]], del: [] }), (e: unknown) => isVaultError(e, 'INVALID_ARGUMENT'))
    await assert.rejects(d.get('s', 'session', ['a\u0000b']), (e: unknown) => isVaultError(e, 'INVALID_ARGUMENT'))
    await assert.rejects(d.getCreds('\ud800'), (e: unknown) => isVaultError(e, 'INVALID_ARGUMENT'))
    await d.close() // folds the commit logs (.vault-log-N) into the files
    for (const path of walk(root))
      assert.ok(
        path.split('/').every(part => !part.startsWith('.') || part === '.vault-session'),
        path
      )
  })

  it('the root is session `default`; other sessions are Baileys folders beside its files; drop is per session', async () => {
    const root = join(tempRoot('layout'), 'auth')
    let store = await openStore(`file:${root}`)
    for (const s of ['default', 'bot-2', 'a/b']) {
      const { state, saveCreds } = await store.useAuthState(s)
      await saveCreds()
      await state.keys.set({ 'pre-key': { '1': { public: Buffer.from([1]), private: Buffer.from([2]) } } })
    }
    await store.close() // writes the files in place (while open, committed writes may be in the commit logs only)
    store = await openStore(`file:${root}`)
    assert.ok(existsSync(join(root, 'creds.json')) && existsSync(join(root, 'pre-key-1.json')))
    assert.ok(existsSync(join(root, 'bot-2', 'creds.json')) && existsSync(join(root, '%a%2Fb', 'pre-key-1.json')))
    assert.deepEqual((await collect(store.sessions())).sort(), ['a/b', 'bot-2', 'default'])
    // Each sub-folder is itself what useMultiFileAuthState opens.
    const viaBaileys = await useMultiFileAuthState(join(root, 'bot-2'))
    assert.deepEqual(viaBaileys.state.creds, await store.readCreds('bot-2'))
    await store.drop('default')
    assert.deepEqual((await collect(store.sessions())).sort(), ['a/b', 'bot-2'], 'dropping default keeps the other sessions')
    assert.ok(!existsSync(join(root, 'creds.json')) && existsSync(join(root, 'bot-2', 'creds.json')))
    await store.drop('bot-2')
    assert.ok(!existsSync(join(root, 'bot-2')))
    assert.deepEqual(await collect(store.sessions()), ['a/b'])
    assert.deepEqual(
      readdirSync(root).filter(n => n.startsWith('.')),
      [],
      'no journal, temp or trash left behind'
    )
    // Foreign files are ignored, never listed or touched.
    writeFileSync(join(root, 'notes.txt'), 'hi')
    writeFileSync(join(root, 'creds.json.orig'), 'hi') // (a creds.json.bak is Baileys' and belongs to creds.json: test/file-baileys-next)
    mkdirSync(join(root, 'default'))
    assert.deepEqual(await collect(store.listKeys('default')), [])
    assert.deepEqual(await collect(store.sessions()), ['a/b'])
    await store.close()
  })

  it('readers in the process never see half a batch; two stores on one folder take turns', async () => {
    const root = join(tempRoot('turns'), 'auth')
    const [a, b] = [await createFileDriver({ path: root }), await createFileDriver({ path: root })]
    const ids = Array.from({ length: 20 }, (_, i) => String(i))
    const batch = (g: number) => ({ creds: text(String(g)), set: ids.map(id => ['session', id, text(String(g))] as [string, string, Uint8Array]), del: [] })
    let done = false
    const writers = Promise.all(
      [a, b].map(async (d, w) => {
        for (let g = 1; g <= 15; g++) await d.write('s', batch(g * 2 + w))
      })
    ).finally(() => (done = true))
    let reads = 0
    while (!done) {
      const got = await b.get('s', 'session', ids)
      const gens = new Set([...got.values()].map(v => Buffer.from(v).toString()))
      assert.ok(gens.size <= 1, `one get saw generations ${[...gens]}`)
      assert.ok(got.size === 0 || got.size === ids.length)
      reads++
      await new Promise(resolve => setImmediate(resolve))
    }
    await writers
    assert.ok(reads > 1)
    await Promise.all([a.close(), b.close()])
    assert.deepEqual(
      readdirSync(join(root, 's')).filter(n => n.startsWith('.')),
      [],
      'closed: no log, journal or temp file left'
    )
  })

  it('creates files 0600 and folders 0700', async () => {
    const root = join(tempRoot('modes'), 'auth', 'nested')
    const old = process.umask(0o022)
    try {
      const d = await createFileDriver({ path: root })
      await d.write('default', {
        creds: text('{}'),
        set: [
          ['pre-key', '1', text('1')],
          ['session', 'x'.repeat(300), text('2')]
        ],
        del: []
      })
      await d.write('other', { creds: text('{}'), set: [['pre-key', '1', text('1')]], del: [] })
      await d.write('other', { set: [['pre-key', '2', text('2')]], del: [] })
      await d.close()
    } finally {
      process.umask(old)
    }
    for (const dir of [join(root, '..'), root, join(root, 'other')]) assert.equal(statSync(dir).mode & 0o777, 0o700, dir)
    for (const file of walk(root).filter(p => !p.endsWith('/'))) assert.equal(statSync(join(root, file)).mode & 0o777, 0o600, file)
    assert.equal(walk(root).filter(p => !p.endsWith('/')).length, 7, 'creds and keys (one with its .id file) in two sessions')
  })

  it('a file that cannot be parsed raises CORRUPT_DATA naming the session, type and id, never null', async () => {
    const folder = copyFixture('alice')
    writeFileSync(join(folder, 'pre-key-2.json'), '{"public":{"type":"Buffer","da')
    writeFileSync(join(folder, 'pre-key-3.json'), '')
    let store = await openStore(`file:${folder}`)
    const { state } = await store.useAuthState('default')
    for (const id of ['2', '3']) {
      await assert.rejects(
        state.keys.get('pre-key', [id]),
        (e: any) => isVaultError(e, 'CORRUPT_DATA') && e.message.includes('"default"') && e.message.includes(`pre-key "${id}"`)
      )
    }
    assert.ok((await state.keys.get('pre-key', ['4']))['4'], 'other keys still read')
    await store.close()
    truncateSync(join(folder, 'creds.json'), 100)
    const torn = readFileSync(join(folder, 'creds.json'))
    store = await openStore(`file:${folder}`)
    await assert.rejects(store.useAuthState('default'), (e: any) => isVaultError(e, 'CORRUPT_DATA') && e.message.includes('session "default" creds'))
    await store.close()
    assert.deepEqual(readFileSync(join(folder, 'creds.json')), torn, 'the damaged creds were not overwritten')
  })
})

// ---------------------------------------------------------------------------------------------

type KeyType = keyof SignalDataTypeMap

async function vaultKeys(folder: string) {
  const store = await openStore(`file:${folder}`)
  const { state } = await store.useAuthState('default')
  const keys = new Map<string, unknown>()
  for (const [type, id] of await collect(store.listKeys('default'))) {
    keys.set(`${type} ${id}`, (await state.keys.get(type as KeyType, [id]))[id])
  }
  await store.close()
  return { creds: state.creds, keys }
}

describe("file driver: Baileys' own folders, both directions", () => {
  for (const name of ['alice', 'bob', 'carol'] as FixtureName[]) {
    it(`opens ${name}'s Baileys folder in place: every key and the creds equal what useMultiFileAuthState reads`, async () => {
      const folder = copyFixture(name)
      const before = walk(folder)
      const mine = await vaultKeys(folder)
      assert.equal(mine.keys.size, manifest.devices[name].files - 1, 'every key file is listed')
      const types = new Set([...mine.keys.keys()].map(k => k.split(' ')[0]))
      assert.deepEqual([...types].sort(), manifest.devices[name].keyTypes)
      const baileys = await useMultiFileAuthState(folder)
      assert.deepEqual(mine.creds, baileys.state.creds)
      for (const [key, value] of mine.keys) {
        const [type, id = assert.fail(`no id in ${key}`)] = key.split(' ')
        assert.ok(value, key)
        assert.deepEqual(value, (await baileys.state.keys.get(type as KeyType, [id]))[id], key)
      }
      if (name === 'alice') {
        assert.ok(mine.keys.has('tctoken __index') && mine.keys.has(`sender-key ${GROUP}::15550000002::0`), 'ids come back exactly')
      }
      assert.deepEqual(walk(folder), before, 'reading changed nothing')
    })
  }

  it('writes a folder that useMultiFileAuthState reads back identically, file for file', async () => {
    const source = copyFixture('alice')
    const target = join(tempRoot('reverse'), 'auth_info_baileys')
    const original = await vaultKeys(source)
    const store = await openStore(`file:${target}`)
    const { state, saveCreds, isNew } = await store.useAuthState('default')
    assert.ok(isNew)
    Object.assign(state.creds, original.creds)
    await saveCreds()
    const data: Record<string, Record<string, unknown>> = {}
    for (const [key, value] of original.keys) {
      const [type = '', id = assert.fail(`no id in ${key}`)] = key.split(' ')
      ;(data[type] ??= {})[id] = value
    }
    await state.keys.set(data as any)
    await store.close()

    assert.deepEqual(readdirSync(target).sort(), readdirSync(source).sort(), 'the same file names as Baileys')
    for (const file of readdirSync(source)) assert.deepEqual(readFileSync(join(target, file)), readFileSync(join(source, file)), file)
    const baileys = await useMultiFileAuthState(target)
    assert.deepEqual(baileys.state.creds, original.creds)
    for (const [key, value] of original.keys) {
      const [type, id = assert.fail(`no id in ${key}`)] = key.split(' ')
      assert.deepEqual((await baileys.state.keys.get(type as KeyType, [id]))[id], value, key)
    }
  })

  it('a user switches to baileys-vault and back without re-linking: the conversation goes on', async () => {
    const folder = copyFixture('alice')
    const bob = await baileysFolderDevice('bob')
    const carol = await baileysFolderDevice('carol')
    const store = await openStore(`file:${folder}`)
    const { state, saveCreds, isNew } = await store.useAuthState('default')
    assert.equal(isNew, false)
    let alice = new SignalDevice(JID.alice, state, saveCreds)
    assert.equal(await alice.receive(JID.bob, await bob.send(JID.alice, 'from bob')), 'from bob')
    assert.equal(await alice.receiveGroup(GROUP, JID.bob, await bob.sendGroup(GROUP, 'group from bob')), 'group from bob')
    assert.equal(await bob.receive(JID.alice, await alice.send(JID.bob, 'alice on vault')), 'alice on vault')
    assert.equal(await carol.receive(JID.alice, await alice.send(JID.carol, 'alice on vault to carol')), 'alice on vault to carol')
    await store.close()
    // Back to Baileys' own store, on the folder baileys-vault wrote.
    alice = await baileysFolderDevice('alice', folder)
    assert.equal(await alice.receive(JID.bob, await bob.send(JID.alice, 'again from bob')), 'again from bob')
    assert.equal(await bob.receive(JID.alice, await alice.send(JID.bob, 'alice back on baileys')), 'alice back on baileys')
    assert.equal(await bob.receiveGroup(GROUP, JID.alice, await alice.sendGroup(GROUP, 'alice group')), 'alice group')
    assert.equal(await alice.receive(JID.carol, await carol.send(JID.alice, 'from carol')), 'from carol')
  })
})

// ---------------------------------------------------------------------------------------------

describe('file driver: files it did not write are never touched', () => {
  /** Every file under `dir` with the md5 of its bytes: compare before and after. */
  const snapshot = (dir: string) =>
    walk(dir).map(p =>
      p.endsWith('/')
        ? p
        : `${p} ${createHash('md5')
            .update(readFileSync(join(dir, p)))
            .digest('hex')}`
    )
  /** Files a user keeps beside the auth state, named like keys of types Baileys does not have. */
  const plantForeign = (dir: string) => {
    mkdirSync(dir, { recursive: true })
    const files: Record<string, string> = {
      'package-lock.json': '{}\n',
      'app-settings.json': '{"x":1}\n',
      'x-y.json': '{"type":"Buffer","data":"AQ=="}',
      'my-type%x.json': '"looks escaped"',
      'notes.txt': 'hi'
    }
    for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), body)
    return Object.keys(files).sort()
  }
  const foreignSnapshot = (dir: string, names: string[]) =>
    names.map(
      n =>
        `${n} ${createHash('md5')
          .update(readFileSync(join(dir, n)))
          .digest('hex')}`
    )

  it('lists, clears and drops only Baileys key files; other x-y.json files stay byte-identical and are reported as ignored', async () => {
    const root = join(tempRoot('foreign'), 'proj')
    const names = plantForeign(root)
    const before = foreignSnapshot(root, names)
    const store = await openStore(`file:${root}`)
    assert.deepEqual(await collect(store.sessions()), [], 'foreign files are not a session')
    assert.deepEqual(await collect(store.listKeys('default')), [])
    assert.deepEqual((await rawDriver(store).get('default', 'app', ['settings'])).size, 0, 'app-settings.json is not key "settings" of type "app"')
    assert.deepEqual(await collect(rawDriver(store).ignoredFiles!('default')), names)

    const { state, saveCreds } = await store.useAuthState('default')
    await saveCreds()
    await state.keys.set({ 'pre-key': { '1': { public: Buffer.from([1]), private: Buffer.from([2]) } }, session: { 'a.0': Buffer.from([3]) } })
    assert.deepEqual(
      (await collect(store.listKeys('default'))).map(([t, id]) => `${t} ${id}`),
      ['pre-key 1', 'session a.0']
    )
    await state.keys.clear()
    assert.deepEqual(await collect(store.listKeys('default')), [])
    assert.deepEqual(foreignSnapshot(root, names), before, 'keys.clear() left them alone')
    await state.keys.set({ 'pre-key': { '2': { public: Buffer.from([1]), private: Buffer.from([2]) } } })
    // Deleting a key of a type the folder does not own is a no-op, not an unlink of app-settings.json.
    await rawDriver(store).write('default', {
      set: [],
      del: [
        ['app', 'settings'],
        ['x', 'y']
      ]
    })
    await store.drop('default')
    assert.deepEqual(await collect(store.sessions()), [])
    assert.deepEqual(readdirSync(root).sort(), names, 'drop removed creds and keys, nothing else')
    assert.deepEqual(foreignSnapshot(root, names), before)

    // A sub-folder session with a foreign file: drop removes its own files and keeps the folder.
    await store.write('bot-2', { creds: initAuthCreds(), set: [['pre-key', '1', { public: Buffer.from([1]), private: Buffer.from([2]) }]] })
    writeFileSync(join(root, 'bot-2', 'README.md'), 'mine')
    assert.deepEqual(await collect(rawDriver(store).ignoredFiles!('bot-2')), ['bot-2/README.md'])
    await store.drop('bot-2')
    assert.deepEqual(readdirSync(join(root, 'bot-2')), ['README.md'])
    assert.deepEqual(await collect(store.sessions()), [])
    await store.close()
  })

  it('records a custom type in .vault-types before its first file: it round-trips, lists and deletes; a type taken by foreign files is refused', async () => {
    const root = join(tempRoot('custom'), 'proj')
    const names = plantForeign(root)
    const before = foreignSnapshot(root, names)
    let d = await createFileDriver({ path: root })
    await d.write('default', {
      set: [
        ['custom', 'a', text('A')],
        ['custom', 'b/c', text('BC')],
        ['pre-key', '1', text('1')]
      ],
      del: []
    })
    assert.deepEqual(JSON.parse(readFileSync(join(root, '.vault-types'), 'utf8')).types, ['custom'], 'Baileys types need no record')
    await d.close()
    d = await createFileDriver({ path: root })
    assert.deepEqual(
      (await collect(d.list('default'))).map(([t, id]) => `${t} ${id}`),
      ['custom a', 'custom b/c', 'pre-key 1']
    )
    assert.equal(Buffer.from((await d.get('default', 'custom', ['a'])).get('a')!).toString(), 'A')
    await d.write('default', { set: [], del: [['custom', 'a']] })
    assert.deepEqual(
      (await collect(d.list('default', 'custom'))).map(([, id]) => id),
      ['b/c']
    )
    // "app" names app-settings.json already: writing that type would overwrite the user's file.
    await assert.rejects(
      d.write('default', { set: [['app', 'other', text('v')]], del: [] }),
      (e: any) => isVaultError(e, 'INVALID_ARGUMENT') && e.message.includes('app-settings.json')
    )
    assert.deepEqual(JSON.parse(readFileSync(join(root, '.vault-types'), 'utf8')).types, ['custom'])
    await d.drop('default')
    assert.deepEqual(readdirSync(root).sort(), names, 'drop removed the custom keys and the record')
    assert.deepEqual(foreignSnapshot(root, names), before)
    await d.close()
  })

  it('read-only: creates nothing, replays no journal, removes no temp file, refuses writes; reports the unfinished batch', async () => {
    const parent = tempRoot('readonly')
    const missing = join(parent, 'nope')
    const ro = await createFileDriver({ path: missing, readOnly: true })
    assert.deepEqual(await collect(ro.sessions()), [])
    assert.equal(await ro.getCreds('default'), undefined)
    await assert.rejects(
      ro.write('default', { creds: text('x'), set: [], del: [] }),
      (e: any) => isVaultError(e, 'INVALID_ARGUMENT') && /read-only/.test(e.message)
    )
    await assert.rejects(ro.drop('default'), (e: any) => isVaultError(e, 'INVALID_ARGUMENT') && /read-only/.test(e.message))
    assert.deepEqual(readdirSync(parent), [], 'no folder was created')

    const root = join(parent, 'auth')
    const rw = await createFileDriver({ path: root })
    await rw.write('default', { creds: text('c'), set: [['pre-key', '1', text('1')]], del: [] })
    await rw.write('s2', { creds: text('c'), set: [['pre-key', '1', text('1')]], del: [] })
    await rw.close()
    // A batch cut off after its commit point (its temp file from a dead writer) and a stray temp.
    const dead = `.vault-tmp-999999999-1-0000abcd`
    writeFileSync(join(root, dead), 'new 2')
    writeFileSync(join(root, '.vault-journal'), encodeJournal([{ target: 'pre-key-2.json', tmp: dead }, { target: 'pre-key-1.json' }]))
    writeFileSync(join(root, 's2', '.vault-tmp-999999999-2-0000abcd'), 'stray')
    const before = snapshot(root)
    const d = await createFileDriver({ path: root, readOnly: true })
    assert.deepEqual(await collect(d.sessions()), ['default', 's2'])
    assert.equal((await collect(d.list('default'))).length, 1)
    assert.equal(await d.unfinishedBatch!('default'), true)
    assert.equal(await d.unfinishedBatch!('s2'), false)
    await assert.rejects(d.write('s2', { set: [['pre-key', '3', text('3')]], del: [] }), (e: any) => isVaultError(e, 'INVALID_ARGUMENT'))
    await d.close()
    assert.deepEqual(snapshot(root), before, 'byte-identical, journal and temps included')
    // A read-write open replays it.
    const again = await createFileDriver({ path: root })
    assert.equal(await again.unfinishedBatch!('default'), false)
    assert.deepEqual(
      (await collect(again.list('default'))).map(([, id]) => id),
      ['2']
    )
    await again.close()
  })
})

// ---------------------------------------------------------------------------------------------

describe('file driver: crash safety', () => {
  const tmpName = (pid: number, n: number) => `.vault-tmp-${pid}-${n}-0000abcd`
  const deadPid = async () => {
    const child = spawn(process.execPath, ['-e', ''])
    await new Promise(resolve => child.on('exit', resolve))
    return child.pid!
  }

  it('replays a complete journal whose batch was cut off half-applied', async () => {
    const root = join(tempRoot('replay'), 'auth')
    let d = await createFileDriver({ path: root })
    await d.write('default', {
      creds: text('old creds'),
      set: [
        ['pre-key', '1', text('old 1')],
        ['pre-key', '2', text('old 2')],
        ['pre-key', '3', text('old 3')]
      ],
      del: []
    })
    await d.close()
    // The batch: creds, pre-key 1 and 2 new, pre-key 3 deleted. Crash after the commit point,
    // with one rename done.
    const pid = await deadPid()
    const plan = [
      { target: 'creds.json', tmp: tmpName(pid, 1) },
      { target: 'pre-key-1.json', tmp: tmpName(pid, 2) },
      { target: 'pre-key-2.json', tmp: tmpName(pid, 3) },
      { target: 'pre-key-3.json' }
    ]
    writeFileSync(join(root, tmpName(pid, 1)), 'new creds')
    writeFileSync(join(root, 'pre-key-1.json'), 'new 1') // already renamed
    writeFileSync(join(root, tmpName(pid, 3)), 'new 2')
    writeFileSync(join(root, '.vault-journal'), encodeJournal(plan))
    d = await createFileDriver({ path: root })
    assert.equal(Buffer.from((await d.getCreds('default'))!).toString(), 'new creds')
    const got = await d.get('default', 'pre-key', ['1', '2', '3'])
    assert.deepEqual(
      [...got].map(([id, v]) => `${id}=${Buffer.from(v)}`),
      ['1=new 1', '2=new 2']
    )
    assert.deepEqual(readdirSync(root).sort(), ['creds.json', 'pre-key-1.json', 'pre-key-2.json'])
    await d.close()
  })

  it('discards a torn journal: the folder stays at the previous batch', async () => {
    const root = join(tempRoot('torn'), 'auth')
    let d = await createFileDriver({ path: root })
    await d.write('s', {
      set: [
        ['pre-key', '1', text('old 1')],
        ['pre-key', '2', text('old 2')]
      ],
      del: []
    })
    await d.close()
    const pid = await deadPid()
    const dir = join(root, 's')
    const journal = encodeJournal([{ target: 'pre-key-1.json', tmp: tmpName(pid, 1) }, { target: 'pre-key-2.json' }])
    writeFileSync(join(dir, tmpName(pid, 1)), 'new 1')
    writeFileSync(join(dir, '.vault-journal'), journal.subarray(0, journal.length - 3))
    d = await createFileDriver({ path: root })
    const got = await d.get('s', 'pre-key', ['1', '2'])
    assert.deepEqual(
      [...got].map(([id, v]) => `${id}=${Buffer.from(v)}`),
      ['1=old 1', '2=old 2']
    )
    assert.deepEqual(readdirSync(dir).sort(), ['pre-key-1.json', 'pre-key-2.json'], 'journal and its temp file are gone')
    await d.close()
  })

  it('ignores and removes stray temp files of dead processes, keeps those of live ones', async () => {
    const root = join(tempRoot('stray'), 'auth')
    let d = await createFileDriver({ path: root })
    await d.write('default', { set: [['pre-key', '1', text('1')]], del: [] })
    await d.write('other', { set: [['pre-key', '1', text('1')]], del: [] })
    await d.close()
    const dead = await deadPid()
    const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'])
    try {
      for (const dir of [root, join(root, 'other')]) {
        writeFileSync(join(dir, tmpName(dead, 1)), 'torn')
        writeFileSync(join(dir, tmpName(live.pid!, 2)), 'in progress elsewhere')
        mkdirSync(join(dir, '.vault-trash-1-1-0000abcd'))
      }
      d = await createFileDriver({ path: root })
      assert.deepEqual(await collect(d.list('default')), [['pre-key', '1']], 'temp files are never keys')
      for (const dir of [root, join(root, 'other')]) {
        assert.ok(!existsSync(join(dir, tmpName(dead, 1))), dir)
        assert.ok(existsSync(join(dir, tmpName(live.pid!, 2))), dir)
      }
      assert.ok(!existsSync(join(root, '.vault-trash-1-1-0000abcd')), 'trash of a dropped session is removed')
      await d.close()
    } finally {
      live.kill('SIGKILL')
    }
  })

  it('a write failing before its commit point changes nothing; after it, a file that cannot be put in place keeps the log for the next open', async () => {
    const root = join(tempRoot('fail'), 'auth')
    let d = await createFileDriver({ path: root })
    const dir = join(root, 's')
    const values = async () => [...(await d.get('s', 'pre-key', ['1', '2']))].map(([id, v]) => `${id}=${Buffer.from(v)}`)
    await d.write('s', {
      set: [
        ['pre-key', '1', text('old 1')],
        ['pre-key', '2', text('old 2')]
      ],
      del: []
    })
    const batch = {
      set: [
        ['pre-key', '1', text('new 1')],
        ['pre-key', '2', text('new 2')]
      ],
      del: []
    } as Parameters<typeof d.write>[1]
    // Before the commit point: the folder's commit log cannot be read (a folder is in its place).
    await d.close() // folds the log into the files: the next write starts a new one
    d = await createFileDriver({ path: root })
    mkdirSync(join(dir, '.vault-log-1', 'blocker'), { recursive: true })
    await assert.rejects(d.write('s', batch))
    assert.deepEqual(await values(), ['1=old 1', '2=old 2'])
    assert.deepEqual(readdirSync(dir).sort(), ['.vault-log-1', 'pre-key-1.json', 'pre-key-2.json'], 'its temp files are removed')
    rmSync(join(dir, '.vault-log-1'), { recursive: true })
    // After the commit point: the files are written by the checkpoint, and one target cannot be
    // replaced (a folder is in the way). The write is durable in the log: it resolves and is served.
    rmSync(join(dir, 'pre-key-2.json'))
    mkdirSync(join(dir, 'pre-key-2.json', 'blocker'), { recursive: true })
    await d.write('s', batch)
    assert.deepEqual(await values(), ['1=new 1', '2=new 2'], 'served from the commit log')
    await d.close() // its checkpoint fails: the log stays, never a file half written
    assert.ok(
      readdirSync(dir).some(n => n.startsWith('.vault-log-')),
      'the log is kept until every file of it is in place'
    )
    rmSync(join(dir, 'pre-key-2.json'), { recursive: true })
    d = await createFileDriver({ path: root })
    assert.deepEqual(await values(), ['1=new 1', '2=new 2'], 'the next open replayed the committed batch')
    await d.close()
    assert.deepEqual(readdirSync(dir).sort(), ['pre-key-1.json', 'pre-key-2.json'])
  })

  it('SIGKILL at random moments of big batches: after every kill each batch is all or nothing', async t => {
    const root = join(tempRoot('kill'), 'auth')
    const CHILD = fileURLToPath(new URL('../helpers/file-crash-child.js', import.meta.url))
    const KILLS = Number(process.env.VAULT_FILE_KILLS ?? 30)
    const acked = new Map(SESSIONS.map(s => [s, -1]))
    let midBatch = 0
    for (let k = 0; k < KILLS; k++) {
      const out = await new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, [CHILD, root, SESSIONS.map(s => acked.get(s)! + 1).join(',')], { stdio: ['ignore', 'pipe', 'pipe'] })
        let stdout = ''
        let stderr = ''
        // The kill lands at a random moment within the next two batches after the first one,
        // whatever the disk's speed: every run makes progress, and most kills hit mid-batch.
        let readyAt = 0
        let armed = false
        child.stdout.on('data', chunk => {
          stdout += chunk
          if (!readyAt && stdout.startsWith('ready\n')) readyAt = performance.now()
          if (!armed && stdout.includes('ack ')) {
            armed = true
            setTimeout(() => child.kill('SIGKILL'), Math.random() * 2 * (performance.now() - readyAt))
          }
        })
        child.stderr.on('data', chunk => (stderr += chunk))
        child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve(stdout) : reject(new Error(`child exited ${code}: ${stderr}`))))
      })
      const ackedNow = new Map<string, number>()
      for (const [, s = '', g] of out.matchAll(/^ack (\S+) (\d+)$/gm)) ackedNow.set(s, Math.max(ackedNow.get(s) ?? -1, Number(g)))
      const d = await createFileDriver({ path: root })
      for (const s of SESSIONS) {
        const dir = s === 'default' ? root : join(root, s)
        const creds = await d.getCreds(s)
        const gens = new Set<number>()
        if (creds) gens.add(JSON.parse(Buffer.from(creds).toString()).g)
        const ids = Array.from({ length: KEYS }, (_, i) => String(i))
        for (const type of ['pre-key', 'session']) for (const v of (await d.get(s, type, ids)).values()) gens.add(JSON.parse(Buffer.from(v).toString()).g)
        const senderKeys = await collect(d.list(s, 'sender-key', { values: true }))
        for (const [, , v] of senderKeys) gens.add(JSON.parse(Buffer.from(v!).toString()).g)
        assert.ok(gens.size <= 1, `kill ${k}, session ${s}: a batch was torn, generations ${[...gens]}`)
        const g = [...gens][0] ?? -1
        if (g >= 0) {
          assert.equal((await d.get(s, 'pre-key', ids)).size + (await d.get(s, 'session', ids)).size, KEYS, 'every key of the batch')
          assert.equal(senderKeys.length, 1, 'the delete and the set of the batch both landed')
        }
        // On disk: the last acknowledged batch, or the one being written when the kill came.
        const a = ackedNow.get(s) ?? acked.get(s)!
        const next = ackedNow.has(s) ? a + 1 : acked.get(s)! + 1
        assert.ok(g === a || g === next, `kill ${k}, session ${s}: on disk ${g}, acknowledged ${a}, in flight ${next}`)
        if (g === next) midBatch++
        if (existsSync(dir))
          assert.deepEqual(
            readdirSync(dir).filter(n => n.startsWith('.vault-') && n !== '.vault-session'),
            [],
            'no journal or temp file left after open'
          )
        acked.set(s, g)
      }
      await d.close()
    }
    const generations = SESSIONS.map(s => acked.get(s)! + 1)
    t.diagnostic(`${KILLS} kills, generations ${generations}, ${midBatch} recoveries found the in-flight batch complete on disk`)
    assert.ok(generations.reduce((x, y) => x + y) >= KILLS, 'every child acknowledged at least one batch')
  })
})

// ---------------------------------------------------------------------------------------------
// The shared suites: Baileys' Signal repository on the store (plain and encrypted), the tools'
// migrate/backup/restore scenarios, and SIGKILL mid-traffic.

realClientSuite('file', async () => {
  const dir = tempRoot('rc')
  return { url: `file:${join(dir, 'auth')}` }
})

realClientSuite('file, encrypted', async () => ({ url: `file:${join(tempRoot('rc-enc'), 'auth')}`, options: { encryption: testEncryption() } }))

toolsSuite('file', async () => ({ url: `file:${join(tempRoot('tools'), 'auth')}` }))

const toolsEncryption = testEncryption()
toolsSuite('file, encrypted', async () => ({ url: `file:${join(tempRoot('tools-enc'), 'auth')}`, options: { encryption: toolsEncryption } }))

crashSuite('file', async () => {
  const dir = tempRoot('crash')
  return { url: `file:${join(dir, 'auth')}` }
})

// The encrypted repeat: 10 kills (the plain run's 30 cover the driver; ~6 s instead of ~20 s).
crashSuite('file, encrypted', async () => ({ url: `file:${join(tempRoot('crash-enc'), 'auth')}`, options: { encryption: testEncryption() } }))
