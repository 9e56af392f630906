import type { Store } from '../store/store.js'

/**
 * Files in a session's place that the store does not own and never touches (e.g. the
 * package-lock.json in a file: folder); empty for drivers that have no such notion.
 */
export async function ignoredFiles(store: Store, session: string): Promise<string[]> {
  const driver = store.driver
  if (!driver.ignoredFiles) return []
  return store.guard('listing ignored files', session, async () => {
    const out: string[] = []
    for await (const name of driver.ignoredFiles!(session)) out.push(name)
    return out
  })
}

/** The names for one line of text: the first `limit`, then how many more. */
export function listNames(names: readonly string[], limit = 10): string {
  return names.slice(0, limit).join(', ') + (names.length > limit ? `, … (${names.length - limit} more)` : '')
}
