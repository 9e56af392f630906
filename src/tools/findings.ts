/** What doctor reports: one problem (or fact) about a session, and how to fix it. */
export type Severity = 'error' | 'warning' | 'info'

export interface Finding {
  /** error: Baileys will fail; warning: degraded or risky; info: worth knowing, not a problem. */
  severity: Severity
  /** Stable identifier, e.g. SIGNED_PRE_KEY_SIGNATURE_INVALID. */
  code: string
  message: string
  /** What to do about it. */
  fix?: string
  /** Key type concerned, sample ids (at most 5) and how many keys, for findings about keys. */
  type?: string
  ids?: string[]
  count?: number
}

export const isProblem = (f: Finding): boolean => f.severity !== 'info'
