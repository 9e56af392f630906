/**
 * Warnings about a store's configuration are said once per process, however many stores, tools
 * and runtimes open it (run --all opens one store; a bot may open several): the CLI and the
 * runtime both ask here before they print or log one.
 */
const said = new Set<string>()

/** True the first time `warning` is seen in this process. */
export function firstTime(warning: string): boolean {
  if (said.has(warning)) return false
  said.add(warning)
  return true
}
