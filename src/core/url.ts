import { invalidArgument } from './errors.js'

export type StoreKind = 'memory' | 'file' | 'sqlite' | 'postgres' | 'redis'

export interface ParsedStoreUrl {
  kind: StoreKind
  /** File-system path for file: and sqlite:, the full URL for servers, the name for memory:. */
  target: string
}

const USAGE = 'Use memory:, file:<folder>, sqlite:<path>, postgres://user:pass@host/db or redis://host:port.'

/** Parses a store URL. Relative paths (`sqlite:./a.db`, `file:auth`) are kept relative to cwd. */
export function parseStoreUrl(url: string): ParsedStoreUrl {
  if (typeof url !== 'string' || url.length === 0) throw invalidArgument(`A store URL is required. ${USAGE}`)
  const colon = url.indexOf(':')
  const scheme = colon > 0 ? url.slice(0, colon).toLowerCase() : ''
  const rest = url.slice(colon + 1)
  switch (scheme) {
    case 'memory':
      return { kind: 'memory', target: rest }
    case 'file':
    case 'sqlite': {
      const path = rest.startsWith('//') ? pathOfFileUrl(url) : rest
      if (!path) throw invalidArgument(`Store URL "${redactUrl(url)}" has no path. ${USAGE}`)
      return { kind: scheme, target: path }
    }
    case 'postgres':
    case 'postgresql':
      return { kind: 'postgres', target: url }
    case 'redis':
    case 'rediss':
      return { kind: 'redis', target: url }
    default:
      throw invalidArgument(`Unknown store URL "${redactUrl(url)}". ${USAGE}`)
  }
}

/** `sqlite:///abs/a.db` or `sqlite://localhost/abs/a.db`; a host would be silently dropped, so it is refused. */
function pathOfFileUrl(url: string): string {
  const parsed = new URL(url)
  if (parsed.host !== '' && parsed.host !== 'localhost') {
    throw invalidArgument(
      `Store URL "${redactUrl(url)}" names a host ("${parsed.host}"); a local path is written ${parsed.protocol}${parsed.host}${parsed.pathname} or ${parsed.protocol}///absolute/path.`
    )
  }
  return decodeURIComponent(parsed.pathname)
}

/** Hides passwords in URLs before they are printed or put in an error message. */
export function redactUrl(url: string): string {
  // Up to the last '@': a password may itself hold '/' or a raw '@', and none of it may show.
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^:@/]*):(.*)@/i, (_m, scheme, user) => `${scheme}${user}:***@`)
}
