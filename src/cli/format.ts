/** Small text-output helpers shared by the commands. */

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`
}

/** "pre-key 39, session 2" — types sorted by count, largest first. */
export function formatCounts(counts: Record<string, number>): string {
  const entries = Object.entries(counts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
  return entries.length === 0 ? '-' : entries.map(([t, n]) => `${t} ${n}`).join(', ')
}

/** A left-aligned text table; numbers are right-aligned. */
export function table(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = [headers, ...rows.map(r => r.map(String))]
  const widths = headers.map((_, i) => Math.max(...cells.map(r => (r[i] ?? '').length)))
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every(r => typeof r[i] === 'number'))
  return cells
    .map(r =>
      r
        .map((c, i) => (numeric[i] ? c.padStart(widths[i] ?? 0) : i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd()
    )
    .join('\n')
}

/**
 * An empty store: nothing tells a store never linked from one whose sessions were logged out (a
 * logout backs the session up, then clears it) or dropped, so the message names both.
 */
export const NO_SESSIONS = 'no sessions (none linked yet, or each was logged out or dropped; a logout leaves its backup in the backup folder)'

export const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`

export function printJson(out: { write(text: string): unknown }, value: unknown): void {
  out.write(JSON.stringify(value, null, 2) + '\n')
}

/**
 * The first line of a session in `migrate` and `restore` output: what happened (or would) to it,
 * e.g. `alice as bob: would overwrite 120 keys + creds`.
 */
export function copiedSessionLine(options: {
  session: { session: string; target: string; targetHadData: boolean; overwritten: boolean; keys: number; creds: boolean }
  dryRun: boolean
  overwrite: boolean
  /** 'copy' or 'restore': "would copy" / "copied", "would restore" / "restored". */
  verb: 'copy' | 'restore'
}): string {
  const { session: s, dryRun, overwrite, verb } = options
  const action = dryRun
    ? s.targetHadData
      ? overwrite
        ? 'would overwrite'
        : 'would refuse (target has data; use --overwrite)'
      : `would ${verb}`
    : s.overwritten
      ? 'overwritten'
      : verb === 'copy'
        ? 'copied'
        : 'restored'
  const renamed = s.target === s.session ? '' : ` as ${s.target}`
  return `${s.session}${renamed}: ${action} ${plural(s.keys, 'key')}${s.creds ? ' + creds' : ' (no creds)'}`
}
