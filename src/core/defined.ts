/**
 * For a value the surrounding code already guarantees (an index below the length it just
 * checked, a regex group that always matches when the regex did): `why` names that guarantee,
 * so a reader sees it at the call, and a broken one fails loudly here instead of later as an
 * `undefined` somewhere else. Not for input or stored data: those get a VaultError that says
 * what to do.
 */
export function must<T>(value: T | undefined, why: string): T {
  if (value === undefined) throw new Error(`internal: expected a value (${why})`)
  return value
}
