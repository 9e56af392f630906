import { invalidArgument } from '../core/errors.js'

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/

/**
 * Parses a human duration ('500ms', '30s', '5m', '24h', '7d') into milliseconds. Zero, negative,
 * unit-less and unknown-unit values are refused: a backup every 0 ms or every '1x' is a typo,
 * never something to run.
 */
export function parseDuration(text: string, what: string): number {
  const [, amount, unit = ''] = (typeof text === 'string' ? PATTERN.exec(text.trim()) : null) ?? []
  const ms = Number(amount) * (UNITS[unit] ?? NaN) // no match: NaN, refused just below
  if (!Number.isFinite(ms) || ms < 1 || ms > 2 ** 31 - 1) {
    throw invalidArgument(`${what} must be a positive duration such as 30s, 15m, 24h or 7d (at most 24 days); got ${JSON.stringify(text)}.`)
  }
  return Math.round(ms)
}

/** Short human form of a millisecond count for timelines and progress lines: 850 ms, 3.1 s, 2.5 min. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  return `${(ms / 60_000).toFixed(1)} min`
}
