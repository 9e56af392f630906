import { isVaultError } from '../core/errors.js'
import type { Store } from '../store/store.js'
import { MessageAges, type RetryStoreSummary } from './message-ages.js'
import { checkCreds, isLinked } from './creds-check.js'
import { checkFileModes } from './file-modes.js'
import { isProblem, type Finding } from './findings.js'
import { listNames } from './ignored-files.js'
import { KEY_CHECKS } from './key-check.js'
import { DEFAULT_KEEP, checkKeep, preKeyNumber, staleBelow } from './prekeys.js'
import { progressTicker, type ProgressListener } from './progress.js'
import { BoundedList, assertSessionsExist, selectSessions } from './sessions.js'
import { interruptedCopies } from './staging.js'
import type { StoredValue } from '../codec/stored-value.js'

export interface DoctorOptions {
  sessions?: readonly string[]
  /** Pre-keys kept below firstUnuploadedPreKeyId before they count as stale (see prekeys.ts). */
  keep?: number
  onProgress?: ProgressListener
}

export type SessionStatus = 'healthy' | 'problems' | 'unlinked' | 'empty'

export interface DoctorSessionReport {
  session: string
  /** healthy: linked, no problems; problems: an error or warning; unlinked: never linked; empty: no data at all. */
  status: SessionStatus
  linked: boolean
  keys: number
  counts: Record<string, number>
  findings: Finding[]
  /** Files beside the session's data that the store does not own and never touches (file: store). */
  ignored: string[]
  /** The retry store's count and ages (never a message); absent when it holds nothing. */
  retryStore?: RetryStoreSummary
}

export interface DoctorResult {
  store: string
  /** Findings about the store as a whole (e.g. file modes), not about one session. */
  findings: Finding[]
  sessions: DoctorSessionReport[]
  /** Leftovers of interrupted migrate/restore runs (staging sessions, unfinished hidden copies); each counts as a warning. */
  interrupted: string[]
  errors: number
  warnings: number
  /** No errors and no warnings (info findings, such as stale pre-keys, are fine). */
  ok: boolean
}

const SAMPLE = 5
const LOOKUP_BATCH = 500

/**
 * With encryption configured: values still in plaintext (encryption turned on for an existing
 * store) or sealed with an older key (a rotation not finished). Both are fixed by rotate-key.
 */
class ProtectionTally {
  plaintext = 0
  readonly oldKeys = new Map<string, number>()
  constructor(private readonly store: Store) {}
  /**
   * Called after the value was decoded: a key is judged by its bytes (a value sealed under the
   * id derived from the current key is current), and one no configured key opens is reported as
   * encrypted by the caller, never also as "an older key".
   */
  add(bytes: Uint8Array): void {
    const p = this.store.protectionOf(bytes)
    if (!p.sealed) this.plaintext++
    else if (this.store.keyState(p.keyId) === 'old') this.oldKeys.set(p.keyId, (this.oldKeys.get(p.keyId) ?? 0) + 1)
  }
  findings(session: string): Finding[] {
    if (!this.store.currentKeyId) return []
    const fix = `baileys-vault rotate-key ${this.store.label} --session ${session} (with BAILEYS_VAULT_KEY set, old keys in BAILEYS_VAULT_OLD_KEYS)`
    const out: Finding[] = []
    if (this.plaintext > 0) {
      out.push({
        severity: 'warning',
        code: 'PLAINTEXT_VALUES',
        count: this.plaintext,
        message: `${this.plaintext} value(s) (keys or creds) are stored unencrypted.`,
        fix
      })
    }
    for (const [keyId, count] of this.oldKeys) {
      out.push({
        severity: 'info',
        code: 'OLD_KEY_VALUES',
        count,
        message: `${count} value(s) are sealed with the older key "${keyId}"; it cannot be removed yet.`,
        fix
      })
    }
    return out
  }
}

/** Findings about many keys are grouped by (code, type), with a count and a few sample ids. */
class KeyFindings {
  private readonly groups = new Map<string, Finding>()
  add(severity: Finding['severity'], code: string, type: string, id: string, message: string, fix: string): void {
    const key = `${code}\u0000${type}\u0000${message}`
    let f = this.groups.get(key)
    if (!f) this.groups.set(key, (f = { severity, code, type, message, fix, ids: [], count: 0 }))
    f.count!++
    if (f.ids!.length < SAMPLE) f.ids!.push(id)
  }
  list(): Finding[] {
    return [...this.groups.values()].map(f => ({
      ...f,
      message: f.count! > 1 ? `${f.count} ${f.type} keys: ${f.message}` : `${f.type} "${f.ids![0]}": ${f.message}`
    }))
  }
}

/**
 * Offline health checks of sessions: creds (complete, well-typed, signatures), pre-key
 * counters against stored pre-keys, the app-state key, every stored value decoding with the
 * shape Baileys expects, and LID mappings agreeing with their reverse entries. Reads only.
 */
export async function doctor(store: Store, options: DoctorOptions = {}): Promise<DoctorResult> {
  const keep = checkKeep(options.keep ?? DEFAULT_KEEP)
  const sessions = await selectSessions(store, options.sessions)
  // A named session that does not exist is a typo, as in inspect: NOT_FOUND, not "never linked".
  if (options.sessions?.length) await assertSessionsExist(store, sessions)
  const ticker = progressTicker(options.onProgress, 'check')
  const reports: DoctorSessionReport[] = []
  for (const session of sessions) reports.push(await checkSession(store, session, keep, n => ticker.add(n, session)))
  ticker.add(0, undefined, true)
  const findings = [...checkFileModes(store.label), ...store.warnings().map(unsafeConfig)]
  const all = [...findings, ...reports.flatMap(r => r.findings)]
  const errors = all.filter(f => f.severity === 'error').length
  const interrupted = options.sessions?.length ? [] : await interruptedCopies(store)
  const warnings = all.filter(f => f.severity === 'warning').length + interrupted.length
  return { store: store.label, findings, sessions: reports, interrupted, errors, warnings, ok: errors + warnings === 0 }
}

/** An unsafe backend setting found when the store was opened (e.g. Redis without AOF). */
const unsafeConfig = (message: string): Finding => ({
  severity: 'warning',
  code: 'UNSAFE_BACKEND_CONFIG',
  message,
  fix: 'Change the server setting the message names, then run doctor again.'
})

async function checkSession(store: Store, session: string, keep: number, tick: (n: number) => void): Promise<DoctorSessionReport> {
  const findings: Finding[] = []
  let creds: StoredValue
  let credsReadable = true
  try {
    creds = await store.readCreds(session)
  } catch (err) {
    if (!isVaultError(err) || err.code === 'BACKEND_UNAVAILABLE') throw err
    credsReadable = false
    findings.push({
      severity: 'error',
      code: err.code === 'DECRYPT_FAILED' ? 'CREDS_ENCRYPTED' : 'CREDS_UNREADABLE',
      message: err.message,
      fix:
        err.code !== 'DECRYPT_FAILED'
          ? 'Restore the creds from a backup (baileys-vault restore). Do not start the bot: it would link a new device.'
          : store.currentKeyId
            ? 'Set BAILEYS_VAULT_KEY to the key the creds were sealed with (the message says how to recognise it), then run doctor again.'
            : 'Run doctor with the store encryption key (BAILEYS_VAULT_KEY).'
    })
  }
  if (creds) findings.push(...checkCreds(creds))

  const keyFindings = new KeyFindings()
  const counts: Record<string, number> = {}
  let keys = 0
  const pk = { stale: 0, ahead: 0, unuploaded: 0 }
  const counters = creds && Number.isInteger(creds.nextPreKeyId) && Number.isInteger(creds.firstUnuploadedPreKeyId) ? creds : undefined
  const stale = counters ? staleBelow(counters, keep) : -Infinity
  let appStateKeyFound = false
  const lid = new LidChecker(store, session, keyFindings)
  const encrypted = new BoundedList<string>(SAMPLE)
  const protection = new ProtectionTally(store)
  const credsBytes = await store.readRawCreds(session)
  if (credsBytes) protection.add(credsBytes)
  let pending = 0

  const ages = new MessageAges()
  for await (const [type, id, bytes] of store.listRaw(session)) {
    keys++
    ages.add(type, id)
    counts[type] = (counts[type] ?? 0) + 1
    if (++pending >= 500) {
      tick(pending)
      pending = 0
    }
    let value: StoredValue
    try {
      value = store.decodeValue(bytes, { session, type, id })
      protection.add(bytes)
    } catch (err) {
      if (!isVaultError(err)) throw err
      protection.add(bytes)
      if (err.code === 'DECRYPT_FAILED') encrypted.push(`${type} ${id}`)
      else {
        keyFindings.add(
          'error',
          'VALUE_UNREADABLE',
          type,
          id,
          `cannot be decoded (${err.code})`,
          'Restore the session from a backup, or delete these keys (Baileys re-creates sessions on the next message, with a retry).'
        )
      }
      continue
    }
    const check = KEY_CHECKS[type]
    const problem = check?.(value, id)
    if (problem) {
      keyFindings.add('error', 'VALUE_INVALID', type, id, problem, 'Restore the session from a backup, or delete these keys so Baileys re-creates them.')
      continue
    }
    if (type === 'pre-key' && counters) {
      const n = preKeyNumber(id)!
      if (n >= counters.nextPreKeyId) pk.ahead++
      else if (n >= counters.firstUnuploadedPreKeyId) pk.unuploaded++
      else if (n < stale) pk.stale++
    }
    if (type === 'app-state-sync-key' && id === creds?.myAppStateKeyId) appStateKeyFound = true
    if (type === 'lid-mapping') await lid.add(id, value)
  }
  tick(pending)
  await lid.flush()
  findings.push(...keyFindings.list())
  if (encrypted.count > 0) {
    findings.push({
      severity: 'error',
      code: 'VALUE_ENCRYPTED',
      count: encrypted.count,
      ids: encrypted.items,
      message: store.currentKeyId
        ? `${encrypted.count} stored value(s) do not open with any configured key, so they could not be checked.`
        : `${encrypted.count} stored value(s) are encrypted and no encryption key is configured, so they could not be checked.`,
      fix: 'Run doctor with the store encryption key (BAILEYS_VAULT_KEY, and BAILEYS_VAULT_OLD_KEYS during a rotation).'
    })
  }

  findings.push(...protection.findings(session))

  if (!creds && credsReadable && keys > 0) {
    findings.push({
      severity: 'warning',
      code: 'ORPHAN_KEYS',
      message: `The session has ${keys} keys but no creds: Baileys would start a new, unlinked device and never use them.`,
      fix: 'Restore the creds from a backup, or drop the session if it is no longer used.'
    })
  }
  if (counters) {
    if (pk.ahead > 0) {
      findings.push({
        severity: 'warning',
        code: 'PRE_KEY_AHEAD_OF_COUNTER',
        type: 'pre-key',
        count: pk.ahead,
        message: `${pk.ahead} pre-key(s) have ids at or above nextPreKeyId (${counters.nextPreKeyId}): Baileys will overwrite them with new keys, and a peer holding an old one fails with "Bad MAC".`,
        fix: 'The creds are older than the keys: restore creds and keys from one backup.'
      })
    }
    const expected = counters.nextPreKeyId - counters.firstUnuploadedPreKeyId
    if (expected > 0 && pk.unuploaded < expected) {
      findings.push({
        severity: 'info',
        code: 'UNUPLOADED_PRE_KEYS_MISSING',
        type: 'pre-key',
        count: expected - pk.unuploaded,
        message: `${expected - pk.unuploaded} of the ${expected} generated but not yet uploaded pre-keys are missing; Baileys uploads fewer keys next time.`
      })
    }
    if (pk.stale > 0) {
      findings.push({
        severity: 'info',
        code: 'STALE_PRE_KEYS',
        type: 'pre-key',
        count: pk.stale,
        message: `${pk.stale} pre-key(s) are more than ${keep} ids below firstUnuploadedPreKeyId (${counters.firstUnuploadedPreKeyId}): the server can no longer hand them out, so no message will ever use them.`,
        fix: `baileys-vault prune ${store.label} --session ${session}`
      })
    }
  }
  if (creds?.myAppStateKeyId && !appStateKeyFound) {
    findings.push({
      severity: 'warning',
      code: 'APP_STATE_KEY_MISSING',
      type: 'app-state-sync-key',
      message: `creds.myAppStateKeyId names app-state-sync-key "${creds.myAppStateKeyId}", which is not stored: app-state sync (chats, contacts, labels) fails until the phone resends it.`,
      fix: 'Restore the session from a backup; otherwise Baileys asks the phone for the key again after reconnecting.'
    })
  }
  if (!creds && credsReadable && keys === 0) {
    findings.push({
      severity: 'info',
      code: 'NOT_LINKED',
      message: 'The session has no data: it was never linked.',
      fix: 'Start the bot and scan the QR code to link it.'
    })
  }

  findings.push(...(await storageFindings(store, session)))
  const ignored = await store.ignoredFiles(session)
  if (ignored.length > 0) {
    findings.push({
      severity: 'info',
      code: 'IGNORED_FILES',
      count: ignored.length,
      message: `ignored (not baileys-vault's, never touched): ${listNames(ignored)}`
    })
  }

  const linked = !!creds && isLinked(creds)
  const status: SessionStatus = findings.some(isProblem) ? 'problems' : !creds && credsReadable && keys === 0 ? 'empty' : linked ? 'healthy' : 'unlinked'
  const report: DoctorSessionReport = { session, status, linked, keys, counts, findings, ignored }
  const retryStore = ages.summary()
  if (retryStore) report.retryStore = retryStore
  return report
}

/** What the backend itself knows is unfinished (a read-only open leaves it as it is). */
async function storageFindings(store: Store, session: string): Promise<Finding[]> {
  const found = await credsBackupFindings(store, session)
  return found.concat(await unfinishedBatchFindings(store, session))
}

/** Creds read from Baileys' creds.json.bak (creds.json missing or unreadable after a crash). */
async function credsBackupFindings(store: Store, session: string): Promise<Finding[]> {
  let backup: string | undefined
  try {
    backup = await store.credsFromBackup(session)
  } catch (err) {
    if (isVaultError(err)) return [] // the creds check above reports unreadable creds
    throw err
  }
  if (backup === undefined) return []
  return [
    {
      severity: 'warning',
      code: 'CREDS_FROM_BACKUP',
      message: `creds.json is missing or unreadable; the creds were read from ${backup}, as Baileys itself would (an interrupted write).`,
      fix: 'Start the bot (or anything that saves creds): the next save writes a proper creds.json and removes the .bak.'
    }
  ]
}

async function unfinishedBatchFindings(store: Store, session: string): Promise<Finding[]> {
  if (!(await store.unfinishedBatch(session))) return []
  return [
    {
      severity: 'warning',
      code: 'UNFINISHED_BATCH',
      message: 'unfinished batch journal: a write was interrupted; what is read now may show part of it.',
      fix: 'Open the store read-write (e.g. start the bot, or any command that writes) to replay it.'
    }
  ]
}

/**
 * LID mappings come in pairs: `<pn user>` → `<lid user>` and `<lid user>_reverse` → `<pn user>`.
 * Each entry's partner is looked up in batches, so memory stays bounded.
 */
class LidChecker {
  private forward: Array<[pn: string, lid: string]> = []
  private reverse: Array<[lid: string, pn: string]> = []
  constructor(
    private readonly store: Store,
    private readonly session: string,
    private readonly findings: KeyFindings
  ) {}

  async add(id: string, value: string): Promise<void> {
    if (id.endsWith('_reverse')) this.reverse.push([id.slice(0, -'_reverse'.length), value])
    else this.forward.push([id, value])
    if (this.forward.length + this.reverse.length >= LOOKUP_BATCH) await this.flush()
  }

  /** Partner entries; one that cannot be decoded is reported by the main scan, here it is absent. */
  private async read(ids: string[]): Promise<Map<string, unknown>> {
    const out = new Map<string, unknown>()
    for (const [id, bytes] of await this.store.readRaw(this.session, 'lid-mapping', ids)) {
      try {
        out.set(id, this.store.decodeValue(bytes, { session: this.session, type: 'lid-mapping', id }))
      } catch (err) {
        if (!isVaultError(err)) throw err
        out.set(id, null)
      }
    }
    return out
  }

  async flush(): Promise<void> {
    const { forward, reverse } = this
    this.forward = []
    this.reverse = []
    const fix = 'Delete the inconsistent lid-mapping entries; Baileys re-learns mappings from the server.'
    if (forward.length > 0) {
      const got = await this.read(forward.map(([, l]) => `${l}_reverse`))
      for (const [pn, l] of forward) {
        const back = got.get(`${l}_reverse`)
        if (back === undefined) this.findings.add('warning', 'LID_MAPPING_INCONSISTENT', 'lid-mapping', pn, 'the reverse entry is missing', fix)
        else if (back !== pn) this.findings.add('warning', 'LID_MAPPING_INCONSISTENT', 'lid-mapping', pn, 'the reverse entry maps to another phone number', fix)
      }
    }
    if (reverse.length > 0) {
      const got = await this.read(reverse.map(([, pn]) => pn))
      for (const [l, pn] of reverse) {
        const there = got.get(pn)
        if (there === undefined) this.findings.add('warning', 'LID_MAPPING_INCONSISTENT', 'lid-mapping', `${l}_reverse`, 'the forward entry is missing', fix)
        else if (there !== l)
          this.findings.add('warning', 'LID_MAPPING_INCONSISTENT', 'lid-mapping', `${l}_reverse`, 'the forward entry maps to another LID', fix)
      }
    }
  }
}
