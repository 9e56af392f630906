import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ReadCache, SHARED_VALUE_TYPES } from '../../src/auth/read-cache.js'

const bytes = (text: string) => Buffer.from(text)
const keysOf = (cache: ReadCache, keys: string[]) => keys.filter(k => cache.get(k) !== undefined)

describe('ReadCache', () => {
  it('tells "not cached" (undefined) from "known absent" (null)', () => {
    const cache = new ReadCache(10)
    assert.equal(cache.get('session\u0000a'), undefined)
    cache.set('session\u0000a', null)
    assert.equal(cache.get('session\u0000a'), null)
    assert.equal(cache.size, 1)
  })

  it('returns the entry it was given: bytes or a shared value', () => {
    const cache = new ReadCache(10)
    const raw = { bytes: bytes('{"a":1}') }
    const shared = { value: { id: 7 } }
    cache.set('pre-key\u00001', raw)
    cache.set('session\u00001.0', shared)
    assert.equal(cache.get('pre-key\u00001'), raw)
    assert.equal(cache.get('session\u00001.0'), shared)
  })

  it('evicts the least recently used entry, where a read counts as a use', () => {
    const cache = new ReadCache(2)
    cache.set('a', null)
    cache.set('b', null)
    cache.get('a')
    cache.set('c', null)
    assert.deepEqual(keysOf(cache, ['a', 'b', 'c']), ['a', 'c'])
    assert.equal(cache.size, 2)
  })

  it('a missed read does not change the eviction order', () => {
    const cache = new ReadCache(2)
    cache.set('a', null)
    cache.set('b', null)
    cache.get('nope')
    cache.set('c', null)
    assert.deepEqual(keysOf(cache, ['a', 'b', 'c']), ['b', 'c'])
  })

  it('overwriting a key at capacity replaces it, refreshes it, and evicts nothing else', () => {
    const cache = new ReadCache(2)
    cache.set('a', { bytes: bytes('old') })
    cache.set('b', null)
    cache.set('a', { bytes: bytes('new') })
    assert.equal(cache.size, 2)
    assert.equal(cache.get('a')?.bytes?.toString(), 'new')
    cache.set('c', null)
    assert.deepEqual(keysOf(cache, ['a', 'b', 'c']), ['a', 'c'])
  })

  it('never grows past maxEntries, however many keys pass through', () => {
    const cache = new ReadCache(3)
    for (let i = 0; i < 100; i++) cache.set(`k${i}`, null)
    assert.equal(cache.size, 3)
    assert.deepEqual(keysOf(cache, ['k96', 'k97', 'k98', 'k99']), ['k97', 'k98', 'k99'])
  })

  it('maxEntries 0 (or less) turns caching off instead of failing', () => {
    for (const max of [0, -1]) {
      const cache = new ReadCache(max)
      cache.set('a', null)
      assert.equal(cache.get('a'), undefined)
      assert.equal(cache.size, 0)
    }
  })

  it('a cache of one keeps only the latest key', () => {
    const cache = new ReadCache(1)
    cache.set('a', null)
    cache.set('b', null)
    assert.deepEqual(keysOf(cache, ['a', 'b']), ['b'])
  })

  it('delete drops one key, clear drops all; both are fine on missing keys', () => {
    const cache = new ReadCache(10)
    cache.set('a', null)
    cache.set('b', null)
    cache.delete('a')
    cache.delete('never-set')
    assert.deepEqual(keysOf(cache, ['a', 'b']), ['b'])
    cache.clear()
    assert.equal(cache.size, 0)
    assert.equal(cache.get('b'), undefined)
  })

  it('key(type, id) never lets two different (type, id) pairs share a slot', () => {
    const pairs: Array<[string, string]> = [
      ['pre-key', '11'],
      ['pre-key1', '1'],
      ['session', '1.0'],
      ['session1', '.0'],
      ['sender-key', ''],
      ['sender-key-memory', 'x'],
      ['app-state-sync-key', 'AAAA/+=='],
      ['lid-mapping', '123_reverse']
    ]
    const keys = pairs.map(([type, id]) => ReadCache.key(type, id))
    assert.equal(new Set(keys).size, pairs.length)
    assert.equal(ReadCache.key('session', '1.0'), ReadCache.key('session', '1.0'))
  })

  it('shares decoded values only for the types audited as never mutated by their readers', () => {
    assert.deepEqual([...SHARED_VALUE_TYPES].sort(), ['identity-key', 'lid-mapping', 'sender-key', 'session'])
    for (const mutable of ['pre-key', 'app-state-sync-key', 'app-state-sync-version', 'sender-key-memory', 'device-list', 'tctoken']) {
      assert.equal(SHARED_VALUE_TYPES.has(mutable), false, mutable)
    }
  })
})
