/** The names for one line of text: the first `limit`, then how many more. */
export function listNames(names: readonly string[], limit = 10): string {
  return names.slice(0, limit).join(', ') + (names.length > limit ? `, … (${names.length - limit} more)` : '')
}
