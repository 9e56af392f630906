/**
 * The soak run (`npm run soak`, and a short version in test/runtime/soak.servers.test.ts): N linked sessions per
 * store (SQLite, PostgreSQL, optionally Redis), each store kept alive by one `baileys-vault run
 * --all` under a supervisor loop that restarts it whenever it exits, against the simulator,
 * while a chaos loop does one thing at a time: a 515 kick, a silence (long enough for the
 * watchdog's 408 in the full run), a simulator restart (428), a PostgreSQL or Redis restart, a
 * SIGKILL of a `run`; and a contact keeps texting random sessions. SIGKILLs stop halfway, so the
 * last `run` of each store lives through the second half: its RSS and file descriptors are
 * sampled from /proc there (after a warm-up). At the end every session must be connected and
 * answer a ping, with no QR shown since the sessions were linked and no session ever `failed`.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { startSimulator, trustSimulator, type Simulator } from '../../src/sim/index.js'
import { linkSessions } from './link-sessions.js'
import { MEMORY_PRELOAD, rssKbOf, settledReading, type SettledPoint } from './soak-memory.js'
import { BIN, ECHO_BOT } from './run-child.js'
import { freshPostgres, freshRedis, startPostgres, startRedis, stopPostgres, stopRedis } from './servers.js'

export type SoakStore = 'sqlite' | 'postgres' | 'redis'

export interface SoakOptions {
  /** How long the chaos lasts (ms). */
  durationMs: number
  sessionsPerStore: number
  stores: SoakStore[]
  /** Pause between two chaos actions (ms). */
  chaosEveryMs: number
  /** How long a silence lasts (ms): above the watchdog's 60 s it ends in a 408. */
  silenceMs: number
  /** RSS and descriptors are compared from this long after the last `run` started. */
  warmupMs: number
  /** How often /proc and `run`'s memory are sampled (ms). */
  sampleMs?: number
  /** One timeline row per this long (ms; default 60 s). */
  timelineMs?: number
  /** When set, each store's last `run` writes a heap snapshot here at the warm-up's end and at the chaos' end (to diff). */
  heapSnapshotDir?: string
  log?: (line: string) => void
  random?: () => number
}

export interface StoreReport {
  store: SoakStore
  sessions: number
  /** `run` processes started (1 + restarts). */
  runs: number
  sigkills: number
  /** Exits the supervisor did not cause: code and the last stderr line. */
  selfExits: Array<{ code: number | null; detail: string }>
  failedStates: number
  /** QR events after the sessions were linked (must be 0). */
  qrShown: number
  /** BACKEND_UNAVAILABLE error events seen (outages reported). */
  outageErrors: number
  pings: { ok: number; failed: string[] }
  /** What the store's contact saw of Signal failures both ways (sim/contact.ts): a ping that fails for one of these is a session that forked. */
  signal: { undecryptedByContact: number; retryReceiptsFromSessions: number; retriesSentByContact: number }
  rss?: { warmMb: number; endMb: number; growth: number; samples: number }
  fds?: { warm: number; end: number; samples: number }
  /**
   * The last `run` at two equal states, each with every session connected and right after a full,
   * compacting garbage collection: once warm (mid-chaos, with the chaos paused) and at the end. What a leak
   * keeps shows here; V8's sawtooth and its heap limit's growth (peaks of 4x the live heap) do not.
   */
  settled?: { warm: SettledPoint; end: SettledPoint; rssGrowth: number }
  /**
   * The lowest heap used (MB) in the first and in the last third after the warm-up: V8's heap
   * grows in a sawtooth between major collections, so the floor, not a sample, shows a leak.
   */
  heapFloor?: { warmMb: number; endMb: number }
  /** The last `run`'s memory over time, one row per `timelineMs` (from its start). */
  timeline: MemoryRow[]
  /** Node warnings `run` printed (MaxListenersExceededWarning and the like): a listener leak shows here. */
  warnings: string[]
}

/** One row of the memory timeline: seconds since the last `run` started, MB (heap figures from process.memoryUsage() in `run`). */
export interface MemoryRow {
  s: number
  rssMb: number
  heapUsedMb: number
  externalMb: number
  arrayBuffersMb: number
  fds: number
}

export interface SoakReport {
  durationMs: number
  actions: Record<string, number>
  stores: StoreReport[]
  /** 1-minute load average at the start and the end (the machine is shared). */
  load: { start: number; end: number }
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN

interface Sample {
  at: number
  rssKb: number
  fds: number
  /** process.memoryUsage() in `run` (bytes), from MEMORY_PRELOAD (soak-memory.ts); absent until its first line. */
  heapUsed?: number
  external?: number
  arrayBuffers?: number
}

/** One store's `run --all`, restarted by a supervisor loop whenever it exits. */
class Supervised {
  child?: ChildProcess
  startedAt = 0
  runs = 0
  sigkills = 0
  readonly selfExits: StoreReport['selfExits'] = []
  failedStates = 0
  qrShown = 0
  outageErrors = 0
  /** Each session's latest state in the current `run`. */
  states = new Map<string, string>()
  /** Why each session is in its state, and since when (shown for a session that fails its ping). */
  reasons = new Map<string, string>()
  samples: Sample[] = []
  readonly warnings: string[] = []
  private memoryFile = ''
  private stopping = false
  private killedOnPurpose = false
  private exited?: Promise<void>

  constructor(
    readonly store: SoakStore,
    readonly url: string,
    private readonly argv: string[],
    private readonly log: (line: string) => void,
    private readonly memory: { dir: string; preload: string; everyMs: number }
  ) {}

  start(): void {
    if (this.stopping) return
    this.runs++
    this.killedOnPurpose = false
    this.states = new Map()
    this.reasons = new Map()
    this.samples = []
    this.startedAt = Date.now()
    this.memoryFile = join(this.memory.dir, `memory-${this.store}-${this.runs}.jsonl`)
    const child = spawn(process.execPath, [BIN, 'run', this.url, ...this.argv], {
      cwd: this.memory.dir,
      env: {
        ...process.env,
        NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${this.memory.preload} --heapsnapshot-signal=SIGUSR2`.trim(),
        VAULT_SOAK_MEMORY_FILE: this.memoryFile,
        VAULT_SOAK_MEMORY_MS: String(this.memory.everyMs)
      },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    this.child = child
    let lastErr = ''
    createInterface({ input: child.stderr! }).on('line', line => {
      if (/Warning:/.test(line) && this.warnings.length < 20) {
        this.warnings.push(line.slice(0, 200))
        this.log(`${this.store}: run warned: ${line.slice(0, 200)}`)
      }
      if (line.trim()) lastErr = line.slice(0, 300)
    })
    createInterface({ input: child.stdout! }).on('line', line => {
      let e: { event?: string; session?: string; state?: string; code?: string; reason?: { message?: string } }
      try {
        e = JSON.parse(line)
      } catch {
        return
      }
      if (e.event === 'state' && e.session) {
        this.states.set(e.session, e.state!)
        this.reasons.set(e.session, `${new Date().toISOString().slice(11, 19)}: ${(e.reason?.message ?? '').slice(0, 160)}`)
        if (e.state === 'failed') {
          this.failedStates++
          this.log(`${this.store}: session ${e.session} FAILED: ${line}`)
        }
      }
      if (e.event === 'qr') this.qrShown++
      if (e.event === 'error' && e.code === 'BACKEND_UNAVAILABLE') this.outageErrors++
    })
    // 'close', not 'exit': only then has all of its output been read, so lastErr is the line that says why it exited.
    this.exited = new Promise(resolve =>
      child.once('close', code => {
        if (!this.killedOnPurpose && !this.stopping) {
          this.selfExits.push({ code, detail: lastErr })
          this.log(`${this.store}: run exited by itself (code ${code}): ${lastErr}`)
        }
        if (this.child === child) this.child = undefined
        resolve()
        if (!this.stopping) setTimeout(() => this.start(), 1_000)
      })
    )
  }

  sigkill(): void {
    if (!this.child) return
    this.killedOnPurpose = true
    this.sigkills++
    this.child.kill('SIGKILL')
  }

  sample(): void {
    const pid = this.child?.pid
    if (!pid) return
    try {
      const rssKb = rssKbOf(pid)
      this.samples.push({ at: Date.now(), rssKb, fds: readdirSync(`/proc/${pid}/fd`).length, ...this.lastMemoryLine() })
    } catch {
      // the process just exited
    }
  }

  private lastMemoryLine(): Pick<Sample, 'heapUsed' | 'external' | 'arrayBuffers'> {
    try {
      const lines = readFileSync(this.memoryFile, 'utf8').trimEnd().split('\n')
      return JSON.parse(lines.at(-1) ?? '{}')
    } catch {
      return {} // no line yet
    }
  }

  /** The current `run` at an equal state (see soak-memory.ts); undefined if it did not answer or restarted meanwhile. */
  async settle(): Promise<SettledPoint | undefined> {
    const child = this.child
    if (!child) return undefined
    const point = await settledReading({ child, memoryFile: this.memoryFile, startedAt: this.startedAt })
    return this.child === child ? point : undefined
  }

  /** Writes a heap snapshot of the current `run` into the soak's folder (--heapsnapshot-signal). */
  heapSnapshot(): void {
    this.child?.kill('SIGUSR2')
  }

  connected(ids: string[]): number {
    return ids.filter(id => this.states.get(id) === 'connected').length
  }

  async stop(): Promise<number | null> {
    this.stopping = true
    const child = this.child
    if (!child) return null
    const code = new Promise<number | null>(resolve => child.once('exit', c => resolve(c)))
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    const result = await code
    clearTimeout(timer)
    await this.exited
    return result
  }
}

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const log = options.log ?? (() => {})
  const random = options.random ?? Math.random
  const pick = <T>(xs: T[]): T => {
    const x = xs[Math.floor(random() * xs.length)]
    if (x === undefined) throw new Error('pick from an empty list')
    return x
  }
  const loadStart = loadavg()[0] ?? NaN
  const dir = mkdtempSync(join(tmpdir(), 'vault-soak-'))
  const bot = join(dir, 'bot.mjs')
  writeFileSync(bot, ECHO_BOT)
  const preload = join(dir, 'memory-preload.cjs')
  writeFileSync(preload, MEMORY_PRELOAD)
  const sim = await startSimulator()
  const untrust = trustSimulator(sim)
  const cleanups: Array<() => Promise<void>> = []
  const supervised: Supervised[] = []
  const jidsOf = new Map<Supervised, Map<string, string>>()
  const actions: Record<string, number> = {}
  const serversDown = new Set<string>()
  try {
    const ids = Array.from({ length: options.sessionsPerStore }, (_, i) => `s${i + 1}`)
    for (const store of options.stores) {
      let url: string
      if (store === 'sqlite') url = `sqlite:${join(dir, 'soak.db')}`
      else {
        const target = store === 'postgres' ? await freshPostgres('soak') : await freshRedis('soak')
        cleanups.push(() => target.cleanup())
        url = target.url
      }
      const started = Date.now()
      const jids = await linkSessions({ url, ids, sim })
      log(`${store}: ${ids.length} sessions linked in ${Math.round((Date.now() - started) / 1000)} s`)
      const argv = [
        '--all',
        '--bot',
        bot,
        // The default. Under load (22 on 2 cores) a lease round trip right after a PostgreSQL
        // restart took 6 s, and the TTL floor (3x a round trip) refused 15 s: `run` exited 2.
        '--lease-ttl',
        '30s',
        '--store-retry-max',
        '2s',
        '--server',
        sim.url,
        '--trust-root-key',
        sim.rootPublicKey.toString('hex'),
        '--json',
        '--log-level',
        'warn'
      ]
      const s = new Supervised(store, url, argv, log, { dir: options.heapSnapshotDir ?? dir, preload, everyMs: options.sampleMs ?? 5_000 })
      supervised.push(s)
      jidsOf.set(s, new Map(ids.map((id, i) => [id, jids[i] ?? ''])))
      s.start()
    }

    // Background traffic: a contact per store texts a random session now and then (replies are drained before the pings).
    const contacts = new Map(supervised.map((s, i) => [s, sim.contact(`1555000${String(7100 + i)}`)]))
    let chaosOn = true
    const traffic = (async () => {
      for (let n = 0; chaosOn; n++) {
        const s = pick(supervised)
        await contacts
          .get(s)!
          .sendText(`traffic ${n}`, { to: pick([...jidsOf.get(s)!.values()]) })
          .catch(() => undefined)
        await sleep(1_000)
      }
    })()
    const sampler = setInterval(() => supervised.forEach(s => s.sample()), options.sampleMs ?? 5_000)

    const start = Date.now()
    const killsUntil = start + options.durationMs / 2
    if (options.heapSnapshotDir) setTimeout(() => supervised.forEach(s => s.heapSnapshot()), options.durationMs / 2 + options.warmupMs + 5_000).unref()
    const hold = () => 2_000 + Math.floor(random() * 6_000)
    const restartServer = async (name: string, stop: () => Promise<void>, begin: () => Promise<void>) => {
      serversDown.add(name)
      await stop()
      try {
        await sleep(hold())
      } finally {
        await begin()
        serversDown.delete(name)
      }
    }
    /** When the last silence ends (see everyConnected). */
    let silencedUntil = 0
    const chaos: Array<[string, () => Promise<unknown>]> = [
      ['kick 515', async () => sim.kick(pick([...jidsOf.get(pick(supervised))!.values()]), 'restart')],
      [
        'silence',
        async () => {
          silencedUntil = Date.now() + options.silenceMs
          return sim.silence(pick([...jidsOf.get(pick(supervised))!.values()]), options.silenceMs)
        }
      ],
      ['simulator restart (428)', () => sim.restart({ downMs: 500 + Math.floor(random() * 2_500) })]
    ]
    if (options.stores.includes('postgres')) chaos.push(['postgres restart', () => restartServer('postgres', () => stopPostgres(), startPostgres)])
    if (options.stores.includes('redis')) chaos.push(['redis restart', () => restartServer('redis', () => stopRedis(), startRedis)])
    // Every session connected in its store's current run. A silenced socket still reads as
    // connected until its watchdog ends it: the wait starts once the last silence is over (a
    // session dropped then reconnects within the wait; one checked before would fail its ping).
    const everyConnected = async () => {
      if (silencedUntil > Date.now()) {
        log(`waiting ${Math.ceil((silencedUntil - Date.now()) / 1000)} s for the last silence to end`)
        await sleep(silencedUntil - Date.now() + 1_000)
      }
      const deadline = Date.now() + Math.max(180_000, options.silenceMs + 120_000)
      while (supervised.some(s => s.connected(ids) < ids.length) && Date.now() < deadline) await sleep(500)
      for (const s of supervised) if (s.connected(ids) < ids.length) log(`${s.store}: ${s.connected(ids)}/${ids.length} sessions connected after the wait`)
    }
    // The equal-state reading once the last `run` is warm (no SIGKILL comes after killsUntil); the
    // pause does not count as chaos time.
    const warmSettled = new Map<Supervised, { runs: number; point?: SettledPoint }>()
    let pausedMs = 0
    while (Date.now() - start - pausedMs < options.durationMs) {
      if (!warmSettled.size && Date.now() >= killsUntil + options.warmupMs + 5_000) {
        const pausedAt = Date.now()
        log(`${Math.round((pausedAt - start) / 1000)} s: chaos paused for the warm equal-state reading`)
        await everyConnected()
        for (const s of supervised) warmSettled.set(s, { runs: s.runs, point: await s.settle() })
        pausedMs += Date.now() - pausedAt
      }
      await sleep(options.chaosEveryMs)
      const choices =
        Date.now() < killsUntil ? [...chaos, ['SIGKILL of run', async () => pick(supervised).sigkill()] as [string, () => Promise<unknown>]] : chaos
      const [name, act] = pick(choices)
      actions[name] = (actions[name] ?? 0) + 1
      log(`${Math.round((Date.now() - start) / 1000)} s: ${name}`)
      await act()
    }
    chaosOn = false
    await traffic
    if (options.heapSnapshotDir) supervised.forEach(s => s.heapSnapshot())
    log(`chaos over after ${Math.round((Date.now() - start) / 1000)} s; waiting for every session to be connected`)

    await everyConnected()
    clearInterval(sampler)
    supervised.forEach(s => s.sample())
    const endSettled = new Map<Supervised, SettledPoint | undefined>()
    for (const s of supervised) endSettled.set(s, await s.settle())

    const reports: StoreReport[] = []
    await Promise.all(
      supervised.map(async s => {
        const contact = contacts.get(s)!
        while (contact.pendingMessages > 0) await contact.nextMessage(1)
        const pings = { ok: 0, failed: [] as string[] }
        for (const [id, jid] of jidsOf.get(s)!) {
          // A session that is not connected fails its ping at once (a wait per session would take hours with 50 of them).
          if (s.states.get(id) === 'connected' && (await ping(contact, jid, `ping ${s.store} ${id}`))) pings.ok++
          else pings.failed.push(`${id} (${s.states.get(id) ?? 'no state'} since ${s.reasons.get(id) ?? '?'})`)
        }
        const signal = {
          undecryptedByContact: contact.decryptErrors.length,
          retryReceiptsFromSessions: contact.retryReceipts,
          retriesSentByContact: contact.retriesSent
        }
        const warm = warmSettled.get(s)
        const end = endSettled.get(s)
        // Equal states only within one `run`: a restart in between starts a new process.
        const settled = warm?.point && end && warm.runs === s.runs ? { warm: warm.point, end, rssGrowth: end.rssMb / warm.point.rssMb - 1 } : undefined
        reports.push({ ...summary(s, options.warmupMs, options.timelineMs ?? 60_000), ...(settled ? { settled } : {}), pings, signal, sessions: ids.length })
      })
    )
    return {
      durationMs: options.durationMs,
      actions,
      stores: reports.sort((a, b) => a.store.localeCompare(b.store)),
      load: { start: loadStart, end: loadavg()[0] ?? NaN }
    }
  } finally {
    for (const s of supervised) {
      const code = await s.stop()
      if (code !== 0 && code !== null) log(`${s.store}: the last run exited ${code} on SIGTERM`)
    }
    if (serversDown.has('postgres')) await startPostgres().catch(() => undefined)
    if (serversDown.has('redis')) await startRedis().catch(() => undefined)
    untrust()
    await sim.stop()
    for (const cleanup of cleanups) await cleanup().catch(() => undefined)
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Sends `text` to one device and waits for its echo (a few tries: a reply can cross a reconnect). */
async function ping(contact: ReturnType<Simulator['contact']>, jid: string, text: string): Promise<boolean> {
  for (let attempt = 1; attempt <= 3; attempt++) {
    const want = `echo: ${text} #${attempt}`
    await contact.sendText(`${text} #${attempt}`, { to: jid })
    const until = Date.now() + 20_000
    while (Date.now() < until) {
      const got = await contact.nextMessage(Math.max(1, until - Date.now())).catch(() => undefined)
      if (got?.text === want) return true
    }
  }
  return false
}

/** The last `run`'s samples, one row per `everyMs` (the sample closest to each mark). */
function timeline(s: Supervised, everyMs: number): MemoryRow[] {
  const rows: MemoryRow[] = []
  const mb = (bytes: number | undefined) => (bytes ?? NaN) / 2 ** 20
  for (let mark = 0, i = 0; i < s.samples.length; mark += everyMs) {
    while (i < s.samples.length - 1 && (s.samples[i]?.at ?? Infinity) < s.startedAt + mark) i++
    const x = s.samples[i]
    if (!x || rows.at(-1)?.s === Math.round((x.at - s.startedAt) / 1000)) break
    rows.push({
      s: Math.round((x.at - s.startedAt) / 1000),
      rssMb: x.rssKb / 1024,
      heapUsedMb: mb(x.heapUsed),
      externalMb: mb(x.external),
      arrayBuffersMb: mb(x.arrayBuffers),
      fds: x.fds
    })
  }
  return rows
}

function heapFloor(measured: Sample[]): Pick<StoreReport, 'heapFloor'> {
  const third = Math.floor(measured.length / 3)
  const floor = (xs: Sample[]) => Math.min(...xs.map(x => x.heapUsed ?? Infinity)) / 2 ** 20
  if (third < 1) return {}
  const warmMb = floor(measured.slice(0, third))
  const endMb = floor(measured.slice(-third))
  return Number.isFinite(warmMb) && Number.isFinite(endMb) ? { heapFloor: { warmMb, endMb } } : {}
}

function summary(s: Supervised, warmupMs: number, timelineMs: number): Omit<StoreReport, 'pings' | 'signal' | 'sessions'> {
  const measured = s.samples.filter(x => x.at >= s.startedAt + warmupMs)
  // Medians of the first and the last third: V8's heap, and RSS with it, moves ±20 % in a sawtooth
  // of 1-3 minutes, so a few samples at each end would compare two phases of it, not a trend.
  const third = Math.max(3, Math.floor(measured.length / 3))
  const head = measured.slice(0, third)
  const tail = measured.slice(-third)
  const enough = measured.length >= 6
  const warmKb = enough ? median(head.map(x => x.rssKb)) : 0
  const endKb = enough ? median(tail.map(x => x.rssKb)) : 0
  return {
    store: s.store,
    runs: s.runs,
    sigkills: s.sigkills,
    selfExits: s.selfExits,
    failedStates: s.failedStates,
    qrShown: s.qrShown,
    outageErrors: s.outageErrors,
    timeline: timeline(s, timelineMs),
    warnings: s.warnings,
    ...(enough
      ? {
          rss: { warmMb: warmKb / 1024, endMb: endKb / 1024, growth: endKb / warmKb - 1, samples: measured.length },
          fds: { warm: median(head.map(x => x.fds)), end: median(tail.map(x => x.fds)), samples: measured.length },
          ...heapFloor(measured)
        }
      : {})
  }
}

/** The report as text lines (what `npm run soak` prints). */
export function formatSoak(report: SoakReport): string {
  const lines = [
    `soak: ${Math.round(report.durationMs / 1000)} s of chaos; load ${report.load.start.toFixed(2)} -> ${report.load.end.toFixed(2)}`,
    `actions: ${Object.entries(report.actions)
      .map(([k, v]) => `${k} x${v}`)
      .join(', ')}`
  ]
  for (const r of report.stores) {
    lines.push(
      `${r.store}: ${r.sessions} sessions, pings ${r.pings.ok}/${r.sessions}${r.pings.failed.length ? ` (failed: ${r.pings.failed.join(', ')})` : ''}; ` +
        `runs ${r.runs} (${r.sigkills} SIGKILLs, ${r.selfExits.length} exits by itself${r.selfExits.length ? `: ${r.selfExits.map(e => e.code).join(' ')}` : ''}); ` +
        `failed states ${r.failedStates}; QRs ${r.qrShown}; outage errors ${r.outageErrors}; ` +
        (r.rss && r.fds
          ? `RSS ${r.rss.warmMb.toFixed(1)} -> ${r.rss.endMb.toFixed(1)} MB (${(r.rss.growth * 100).toFixed(1)}%), fds ${r.fds.warm} -> ${r.fds.end} (${r.rss.samples} samples after warm-up)`
          : 'RSS/fds: too few samples after warm-up')
    )
    lines.push(
      `  ${r.store}: Signal: the contact could not decrypt ${r.signal.undecryptedByContact} messages and asked again ${r.signal.retriesSentByContact} times; sessions asked the contact again ${r.signal.retryReceiptsFromSessions} times`
    )
    const point = (p: SettledPoint) =>
      `${p.rssMb.toFixed(1)} MB RSS, heap ${p.heapUsedMb.toFixed(1)} used / ${p.heapTotalMb.toFixed(1)} committed, external ${p.externalMb.toFixed(1)} MB, ${p.fds} fds at ${p.s} s`
    lines.push(
      r.settled
        ? `  ${r.store}: settled (every session connected, after a full GC): ${point(r.settled.warm)} -> ${point(r.settled.end)}: RSS ${(r.settled.rssGrowth * 100).toFixed(1)}%`
        : `  ${r.store}: settled: no equal-state reading (run restarted in between, or did not answer)`
    )
    if (r.heapFloor)
      lines.push(`  ${r.store}: heap used floor ${r.heapFloor.warmMb.toFixed(1)} -> ${r.heapFloor.endMb.toFixed(1)} MB (first vs last third after warm-up)`)
    if (r.warnings.length) lines.push(`  ${r.store}: run printed ${r.warnings.length} warnings: ${r.warnings.join(' | ')}`)
    lines.push(`  ${r.store} memory of the last run (s since it started: RSS / heap used / external / arrayBuffers MB, fds):`)
    for (const row of r.timeline)
      lines.push(
        `    ${String(row.s).padStart(5)} s: ${row.rssMb.toFixed(1)} / ${row.heapUsedMb.toFixed(1)} / ${row.externalMb.toFixed(1)} / ${row.arrayBuffersMb.toFixed(1)}, ${row.fds}`
      )
  }
  return lines.join('\n')
}

/** The end conditions; the problems found (empty when the soak passed). */
export function soakProblems(report: SoakReport, limits: { rssGrowth: number; fdSlack: number } = { rssGrowth: 0.1, fdSlack: 4 }): string[] {
  const problems: string[] = []
  for (const r of report.stores) {
    if (r.pings.failed.length) problems.push(`${r.store}: no answer to the ping from ${r.pings.failed.join(', ')}`)
    if (r.failedStates) problems.push(`${r.store}: ${r.failedStates} sessions went failed`)
    if (r.qrShown) problems.push(`${r.store}: ${r.qrShown} QR codes shown after linking`)
    const ownExits = r.selfExits.filter(e => e.code !== 2 || !/BACKEND_UNAVAILABLE|ECONNREFUSED|unavailable/i.test(e.detail))
    if (ownExits.length) problems.push(`${r.store}: run exited by itself: ${JSON.stringify(ownExits)}`)
    // The equal-state readings decide when there are both; the thirds of the timeline otherwise.
    if (r.settled) {
      if (r.settled.rssGrowth > limits.rssGrowth)
        problems.push(`${r.store}: RSS grew ${(r.settled.rssGrowth * 100).toFixed(1)}% between the two equal-state readings`)
      if (r.settled.end.fds > r.settled.warm.fds + limits.fdSlack)
        problems.push(`${r.store}: file descriptors ${r.settled.warm.fds} -> ${r.settled.end.fds} between the two equal-state readings`)
    } else if (!r.rss || !r.fds) problems.push(`${r.store}: too few RSS samples after warm-up`)
    else {
      if (r.rss.growth > limits.rssGrowth) problems.push(`${r.store}: RSS grew ${(r.rss.growth * 100).toFixed(1)}% after warm-up`)
      if (r.fds.end > r.fds.warm + limits.fdSlack) problems.push(`${r.store}: file descriptors ${r.fds.warm} -> ${r.fds.end}`)
    }
  }
  return problems
}
