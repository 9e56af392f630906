import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { WriteQueue } from '../../src/auth/write-queue.js'

/** A promise the test settles by hand, so order is forced by the test, never by timing. */
function deferred<T = void>() {
  let resolve!: (value: T) => void
  let reject!: (err: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** Lets every already-queued promise callback run. */
const settle = () => new Promise<void>(resolve => setImmediate(resolve))

describe('WriteQueue', () => {
  it('starts a task only after the one before it has settled, whatever their speed', async () => {
    const queue = new WriteQueue()
    const events: string[] = []
    const slow = deferred()
    const first = queue.run(async () => {
      events.push('first start')
      await slow.promise
      events.push('first end')
    })
    const second = queue.run(async () => {
      events.push('second start')
    })
    await settle()
    assert.deepEqual(events, ['first start'])
    slow.resolve()
    await Promise.all([first, second])
    assert.deepEqual(events, ['first start', 'first end', 'second start'])
  })

  it("an idle queue starts the task in the caller's turn; a busy one starts it only after the one before", async () => {
    const queue = new WriteQueue()
    let started = 0
    const first = queue.run(async () => {
      started++
    })
    assert.equal(started, 1, 'no microtask turn before an idle queue runs the task')
    const gate = deferred()
    const busy = queue.run(() => gate.promise)
    const behind = queue.run(async () => {
      started++
    })
    assert.equal(started, 1)
    gate.resolve()
    await Promise.all([first, busy, behind])
    assert.equal(started, 2)
    // Settled again: idle, so the next task starts at once.
    await queue.drain()
    void queue.run(async () => {
      started++
    })
    assert.equal(started, 3)
  })

  it('keeps call order across many concurrent callers', async () => {
    const queue = new WriteQueue()
    const order: number[] = []
    const gates = Array.from({ length: 20 }, () => deferred())
    const runs = gates.map((gate, i) =>
      queue.run(async () => {
        await gate.promise
        order.push(i)
      })
    )
    // Open the gates backwards: a queue that did not serialize would finish in reverse.
    for (const gate of [...gates].reverse()) gate.resolve()
    await Promise.all(runs)
    assert.deepEqual(
      order,
      gates.map((_, i) => i)
    )
  })

  it("hands each caller its own task's result", async () => {
    const queue = new WriteQueue()
    const results = await Promise.all([queue.run(async () => 'a'), queue.run(async () => 2), queue.run(async () => ({ ok: true }))])
    assert.deepEqual(results, ['a', 2, { ok: true }])
  })

  it('a failed task rejects its own caller only; the next task still runs', async () => {
    const queue = new WriteQueue()
    const boom = new Error('disk full')
    const failing = queue.run(async () => {
      throw boom
    })
    const after = queue.run(async () => 'written')
    await assert.rejects(failing, err => err === boom)
    assert.equal(await after, 'written')
  })

  it('a task that throws synchronously is a rejection of its caller, not of run() or of the queue', async () => {
    const queue = new WriteQueue()
    const failing = queue.run((() => {
      throw new Error('bad batch')
    }) as () => Promise<never>)
    assert.ok(failing instanceof Promise)
    await assert.rejects(failing, /bad batch/)
    assert.equal(await queue.run(async () => 'next'), 'next')
  })

  it('drain waits for everything queued so far and does not reject when a task failed', async () => {
    const queue = new WriteQueue()
    const gate = deferred()
    let done = 0
    const failed = queue.run(async () => {
      await gate.promise
      throw new Error('lost')
    })
    failed.catch(() => undefined)
    void queue.run(async () => {
      done++
    })
    let drained = false
    const draining = queue.drain().then(() => {
      drained = true
    })
    await settle()
    assert.equal(drained, false)
    gate.resolve()
    await draining
    assert.equal(done, 1)
  })

  it('drain resolves even when the last task queued failed', async () => {
    const queue = new WriteQueue()
    const failed = queue.run(async () => {
      throw new Error('last one lost')
    })
    await assert.rejects(failed, /last one lost/)
    await queue.drain()
  })

  it('drain does not wait for tasks queued after it was called', async () => {
    const queue = new WriteQueue()
    const never = deferred()
    const draining = queue.drain()
    const later = queue.run(() => never.promise)
    await draining
    let laterSettled = false
    void later.then(() => {
      laterSettled = true
    })
    await settle()
    assert.equal(laterSettled, false)
    never.resolve()
    await later
  })

  it('drain on an empty queue resolves at once', async () => {
    await new WriteQueue().drain()
  })

  it('two queues are independent: a stuck task in one does not hold up the other', async () => {
    const stuckQueue = new WriteQueue()
    const freeQueue = new WriteQueue()
    const stuck = deferred()
    const held = stuckQueue.run(() => stuck.promise)
    assert.equal(await freeQueue.run(async () => 'free'), 'free')
    stuck.resolve()
    await held
  })
  it('a started write on an idle queue adds no handler; drain waits for it until finished() reports its end', async () => {
    const queue = new WriteQueue()
    const gate = deferred()
    const written = queue.started(gate.promise)
    assert.equal(written, gate.promise, 'the caller gets its own promise back')
    let drained = false
    const draining = queue.drain().then(() => {
      drained = true
    })
    await settle()
    assert.equal(drained, false, 'drain waits for the started write')
    gate.resolve()
    await draining
    // Not reported finished: still the tail, so a later write chains behind it (correct, one promise more).
    queue.finished(written)
    let ran = false
    void queue.run(async () => {
      ran = true
    })
    assert.equal(ran, true, "finished() made the queue idle: the next task starts in the caller's turn")
  })

  it('finished() of a write that is no longer the tail leaves the queue busy with the later one', async () => {
    const queue = new WriteQueue()
    const first = deferred()
    const second = deferred()
    const a = queue.started(first.promise)
    void queue.started(second.promise)
    first.resolve()
    await a
    queue.finished(a)
    let drained = false
    const draining = queue.drain().then(() => {
      drained = true
    })
    await settle()
    assert.equal(drained, false, 'the second write is still in flight')
    second.resolve()
    await draining
  })
})
