import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { intFlag, onlySession, positionals, sessionsAndRename } from '../../src/cli/args.js'
import { UsageError, flagList, flagString, parseArgs, type ParsedArgs } from '../../src/cli/command.js'

const usage = (pattern: RegExp) => (err: unknown) => err instanceof UsageError && pattern.test(err.message)
const flags = (f: ParsedArgs['flags']): ParsedArgs => ({ positionals: [], flags: f })

describe('parseArgs', () => {
  it('splits positionals from flags, keeping positional order', () => {
    assert.deepEqual(parseArgs(['migrate', 'sqlite:a.db', '--dry-run', 'sqlite:b.db']), {
      positionals: ['migrate', 'sqlite:a.db', 'sqlite:b.db'],
      flags: { 'dry-run': true }
    })
  })

  it('a value flag takes the next argument, even one that looks like a URL or a number', () => {
    const args = parseArgs(['--session', 'acct-1', '--limit', '-5', 'x'], ['session', 'limit'])
    assert.deepEqual(args, { positionals: ['x'], flags: { session: 'acct-1', limit: '-5' } })
  })

  it('a flag not declared as taking a value is boolean, and the next argument stays positional', () => {
    assert.deepEqual(parseArgs(['--json', 'sqlite:a.db']), { positionals: ['sqlite:a.db'], flags: { json: true } })
  })

  it('--key=value always gives a string, declared or not, and splits at the first "="', () => {
    assert.deepEqual(parseArgs(['--as=new', '--key=a=b', '--empty=']).flags, { as: 'new', key: 'a=b', empty: '' })
  })

  it('collects a repeated value flag into an array, in order', () => {
    const args = parseArgs(['--session', 'a', '--session=b', '--session', 'c'], ['session'])
    assert.deepEqual(args.flags.session, ['a', 'b', 'c'])
  })

  it('a value flag at the end with nothing after it is a usage error naming the flag', () => {
    assert.throws(() => parseArgs(['ls', '--session'], ['session']), usage(/--session needs a value/))
  })

  it('everything after -- is positional, even what looks like a flag', () => {
    assert.deepEqual(parseArgs(['--json', '--', '--session', '-x', '--'], ['session']), {
      positionals: ['--session', '-x', '--'],
      flags: { json: true }
    })
  })

  it('single-dash arguments are positional (there are no short flags)', () => {
    assert.deepEqual(parseArgs(['-h', '-', '-5']).positionals, ['-h', '-', '-5'])
  })

  it('no arguments is an empty parse, not an error', () => {
    assert.deepEqual(parseArgs([]), { positionals: [], flags: {} })
  })
})

describe('flagString and flagList', () => {
  const args = parseArgs(['--session', 'a', '--session', 'b', '--as', 'z', '--json'], ['session', 'as'])

  it('flagString gives the last value of a repeated flag, and undefined for a boolean or missing one', () => {
    assert.equal(flagString(args, 'session'), 'b')
    assert.equal(flagString(args, 'as'), 'z')
    assert.equal(flagString(args, 'json'), undefined)
    assert.equal(flagString(args, 'nope'), undefined)
  })

  it('flagList gives every value, a one-element list for a single value, and [] for a boolean or missing one', () => {
    assert.deepEqual(flagList(args, 'session'), ['a', 'b'])
    assert.deepEqual(flagList(args, 'as'), ['z'])
    assert.deepEqual(flagList(args, 'json'), [])
    assert.deepEqual(flagList(args, 'nope'), [])
  })
})

describe('positionals', () => {
  it('returns exactly the named positionals', () => {
    assert.deepEqual(positionals({ positionals: ['a', 'b'], flags: {} }, ['from-url', 'to-url']), ['a', 'b'])
    assert.deepEqual(positionals({ positionals: [], flags: {} }, []), [])
  })

  it('names every missing positional', () => {
    assert.throws(() => positionals({ positionals: [], flags: {} }, ['from-url', 'to-url']), usage(/^missing <from-url> <to-url>$/))
    assert.throws(() => positionals({ positionals: ['a'], flags: {} }, ['from-url', 'to-url']), usage(/^missing <to-url>$/))
  })

  it('names the first unexpected one', () => {
    assert.throws(() => positionals({ positionals: ['a', 'b', 'c'], flags: {} }, ['url']), usage(/^unexpected argument "b"$/))
  })
})

describe('intFlag', () => {
  it('reads integers, negative ones too, and the last of a repeated flag', () => {
    assert.equal(intFlag(flags({ limit: '25' }), 'limit'), 25)
    assert.equal(intFlag(flags({ limit: '-3' }), 'limit'), -3)
    assert.equal(intFlag(flags({ limit: ['1', '2'] }), 'limit'), 2)
  })

  it('is undefined when the flag is absent', () => {
    assert.equal(intFlag(flags({}), 'limit'), undefined)
  })

  it('a bare --limit (no value) is a usage error, not "absent"', () => {
    assert.throws(() => intFlag(flags({ limit: true }), 'limit'), usage(/--limit needs a number/))
  })

  it('rejects fractions and words, quoting what was given', () => {
    assert.throws(() => intFlag(flags({ limit: '1.5' }), 'limit'), usage(/--limit must be an integer; got "1\.5"/))
    assert.throws(() => intFlag(flags({ limit: 'ten' }), 'limit'), usage(/--limit must be an integer; got "ten"/))
    assert.throws(() => intFlag(flags({ limit: 'NaN' }), 'limit'), usage(/must be an integer/))
    assert.throws(() => intFlag(flags({ limit: 'Infinity' }), 'limit'), usage(/must be an integer/))
  })

  it('rejects an empty value (--limit=) instead of reading it as 0', () => {
    assert.throws(() => intFlag(flags({ limit: '' }), 'limit'), usage(/--limit must be an integer; got ""/))
    assert.throws(() => intFlag(flags({ limit: ' ' }), 'limit'), usage(/must be an integer/))
  })
})

describe('onlySession', () => {
  it('picks the only session', async () => {
    assert.equal(await onlySession(['acct']), 'acct')
  })

  it('an empty store is a usage error', async () => {
    await assert.rejects(onlySession([]), usage(/the store has no sessions/))
  })

  it('several sessions: asks for --session and names at most five of them', async () => {
    await assert.rejects(onlySession(['a', 'b']), usage(/^the store has 2 sessions; pick one with --session \(a, b\)$/))
    const many = ['s1', 's2', 's3', 's4', 's5', 's6', 's7']
    await assert.rejects(onlySession(many), usage(/^the store has 7 sessions; pick one with --session \(s1, s2, s3, s4, s5, …\)$/))
  })
})

describe('sessionsAndRename', () => {
  const listing = (sessions: string[]) => {
    let calls = 0
    return {
      available: async () => {
        calls++
        return sessions
      },
      calls: () => calls
    }
  }
  const parse = (argv: string[]) => parseArgs(argv, ['session', 'as'])

  it('without --as: the --session list (maybe empty) and no rename, without listing the store', async () => {
    const store = listing(['a', 'b'])
    assert.deepEqual(await sessionsAndRename(parse(['--session', 'a', '--session', 'b']), store.available), { sessions: ['a', 'b'] })
    assert.deepEqual(await sessionsAndRename(parse([]), store.available), { sessions: [] })
    assert.equal(store.calls(), 0)
  })

  it('--as with one --session renames that one, without listing the store', async () => {
    const store = listing(['a', 'b'])
    assert.deepEqual(await sessionsAndRename(parse(['--session', 'a', '--as', 'a2']), store.available), { sessions: ['a'], rename: { a: 'a2' } })
    assert.equal(store.calls(), 0)
  })

  it('--as alone renames the only session of the store', async () => {
    const store = listing(['old'])
    assert.deepEqual(await sessionsAndRename(parse(['--as', 'new']), store.available), { sessions: [], rename: { old: 'new' } })
    assert.equal(store.calls(), 1)
  })

  it('--as alone on a store of several sessions is a usage error asking for --session', async () => {
    await assert.rejects(sessionsAndRename(parse(['--as', 'new']), listing(['a', 'b']).available), usage(/pick one with --session/))
  })

  it('--as with two --session is a usage error', async () => {
    await assert.rejects(sessionsAndRename(parse(['--session', 'a', '--session', 'b', '--as', 'c']), listing([]).available), usage(/at most one --session/))
  })
})
