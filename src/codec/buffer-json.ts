import { VaultError } from '../core/errors.js'
import type { StoredValue } from './stored-value.js'

/**
 * Baileys' BufferJSON semantics, reimplemented so the codec needs no Baileys import and runs
 * fast: bytes become {type:'Buffer', data:<base64>}; on the way back such objects, and objects
 * whose keys are all numeric with number values, become Buffers. This is the compatibility
 * format: what useMultiFileAuthState writes and reads, byte for byte.
 *
 * Speed: a replacer/reviver callback per property costs more than the Signal crypto saves
 * (profiled: ~18% of a 1:1 message). Values without bytes (Signal sessions, most keys) are
 * detected by one walk and go through plain JSON.stringify; parsing is a plain JSON.parse
 * followed by one post-order walk applying the reviver's two rules, which is equivalent.
 */
export const bufferJsonReplacer = (_key: string, value: StoredValue): StoredValue => {
  if (typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint') throw new UnstorableValueError(value)
  if (value instanceof Uint8Array || value?.type === 'Buffer') {
    return { type: 'Buffer', data: Buffer.from(value?.data || value).toString('base64') }
  }
  return value
}

export const bufferJsonReviver = (_key: string, value: StoredValue): StoredValue => {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    if (value.type === 'Buffer' && typeof value.data === 'string') return Buffer.from(value.data, 'base64')
    const keys = Object.keys(value)
    if (keys.length > 0 && keys.every(k => !isNaN(parseInt(k, 10)))) {
      const values = Object.values(value)
      if (values.every(v => typeof v === 'number')) return Buffer.from(values as number[])
    }
  }
  return value
}

/**
 * A value JSON cannot hold: JSON.stringify would drop a function or a Symbol without a word
 * (Baileys would later read back a value with a field missing) and throw a TypeError on a
 * BigInt or a cycle. The store names the key it was for (see encodeValue); never the value.
 */
export class UnstorableValueError extends VaultError {
  readonly what: string
  constructor(
    value: unknown,
    what = value === CYCLE ? 'a circular reference' : typeof value === 'symbol' ? 'a Symbol' : typeof value === 'bigint' ? 'a BigInt' : `a ${typeof value}`
  ) {
    super('INVALID_ARGUMENT', `The value cannot be stored: it contains ${what}, which JSON cannot hold. Nothing was written.`)
    this.what = what
  }
}
const CYCLE = Symbol('cycle')

/**
 * True if JSON.stringify would give the replacer something to change (bytes, toJSON, Buffer-shaped).
 * Walking every leaf of a value without bytes, it also finds what JSON would drop or choke on.
 * Leaves are checked in the loop, not by a call each: a Signal session has no bytes, so this
 * walk visits all of it on every write (profiled: as costly as the JSON.stringify that follows).
 */
function needsReplacer(value: unknown, depth = 0): boolean {
  if (typeof value !== 'object' || value === null) {
    refuseUnstorable(value)
    return false
  }
  if (depth > 64 || ArrayBuffer.isView(value) || typeof (value as StoredValue).toJSON === 'function' || (value as StoredValue).type === 'Buffer') return true
  if (Array.isArray(value)) {
    for (const item of value) if (typeof item === 'object' ? item !== null && needsReplacer(item, depth + 1) : refuseUnstorable(item)) return true
    return false
  }
  for (const key in value) {
    const child = (value as StoredValue)[key]
    if (typeof child === 'object') {
      if (child !== null && needsReplacer(child, depth + 1)) return true
    } else if (typeof child === 'function') {
      // for-in also visits inherited enumerable members (class methods), which JSON skips.
      if (Object.hasOwn(value, key)) throw new UnstorableValueError(child)
    } else refuseUnstorable(child)
  }
  return false
}

/** Throws for a leaf JSON would drop without a word (function, Symbol) or choke on (BigInt); false otherwise. */
function refuseUnstorable(leaf: unknown): false {
  const kind = typeof leaf
  if (kind === 'function' || kind === 'symbol' || kind === 'bigint') throw new UnstorableValueError(leaf)
  return false
}

/**
 * True when the value is plain JSON: its BufferJSON text is its JSON.stringify, made without a
 * replacer (no bytes, no toJSON, not deeper than 64). UnstorableValueError for a leaf JSON cannot
 * hold, as toBufferJson. A cycle is deeper than 64: false, and toBufferJson then reports it.
 */
export const isPlainJson = (value: unknown): boolean => !needsReplacer(value)

/** BufferJSON text of a value; UnstorableValueError for what JSON cannot hold (a cycle, a function, …). */
export function toBufferJson(value: unknown): string {
  // try/catch costs nothing on the path that does not throw; only the error is classified.
  try {
    return needsReplacer(value) ? JSON.stringify(value, bufferJsonReplacer) : JSON.stringify(value)
  } catch (err) {
    if (err instanceof TypeError && /circular/i.test(err.message)) throw new UnstorableValueError(CYCLE)
    if (err instanceof TypeError && /BigInt/.test(err.message)) throw new UnstorableValueError(0n)
    throw err
  }
}

/** Applies the reviver's rules bottom-up, as JSON.parse with the reviver would. */
function revive(value: StoredValue): StoredValue {
  if (typeof value !== 'object' || value === null) return value
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = revive(value[i])
    return value
  }
  for (const key in value) value[key] = revive(value[key])
  return bufferJsonReviver('', value)
}

/**
 * Whether a BufferJSON text may hold something the reviver changes: a `"Buffer"` string (the
 * {type:'Buffer'} rule) or a key that parseInt reads as a number (the numeric-keys rule). In a
 * text without escapes (`\`) every `"` delimits a string, so a key is a `"` right after `{` or `,`
 * (and JSON whitespace); one starting with a digit, a sign, a space or a non-ASCII character (a
 * Unicode space parseInt skips) may be numeric. Anything else, and any escape, takes the walk.
 */
const MAY_REVIVE = /\\|"Buffer"|[{,]\s*"[\d+\- \u0080-\uffff]/

/**
 * Parses BufferJSON text as JSON.parse(text, BufferJSON.reviver) would. A text in which no rule
 * can apply (a Signal session: base64 strings, no bytes, no numeric keys) skips the walk, which
 * cost half as much as the parse (profiled on cold reads: 300 sessions per group send).
 */
export function fromBufferJson(text: string): StoredValue {
  const value = JSON.parse(text)
  return MAY_REVIVE.test(text) ? revive(value) : value
}
