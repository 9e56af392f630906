import { invalidArgument } from '../../core/errors.js'
import { redactUrl } from '../../core/url.js'

/**
 * The importers' server URLs: `<scheme>://user:pass@host[:port]/database[?table=…]`. Every part
 * is checked; a parameter the importer does not read is refused, never ignored.
 */
export interface SqlUrl {
  host: string
  port: number
  user: string
  password?: string
  database: string
  /** The importer's own parameters (e.g. table), by name. */
  params: Map<string, string>
  /** The same URL with the importer's scheme replaced by `scheme` and its own parameters removed. */
  serverUrl(scheme: string): string
}

export interface SqlUrlOptions {
  form: string
  defaultPort: number
  /** The importer's own parameters. */
  params: readonly string[]
  /** Other parameters are the server client's (kept in serverUrl, checked by its parser); default: refused. */
  clientParams?: boolean
}

export function parseSqlUrl(url: string, options: SqlUrlOptions): SqlUrl {
  const shown = redactUrl(url)
  const bad = (what: string) => invalidArgument(`Store URL "${shown}" ${what}; write it as ${options.form}.`)
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw bad('is not a valid URL')
  }
  if (parsed.hostname === '') throw bad('names no host')
  if (url.includes('#')) throw bad('has a fragment (a "#" in a password is written %23)')
  const decode = (text: string, part: string) => {
    try {
      return decodeURIComponent(text)
    } catch {
      throw bad(`has a malformed %-escape in its ${part} (write "%" as %25)`)
    }
  }
  const database = decode(parsed.pathname.slice(1), 'database')
  if (database === '' || database.includes('/')) throw bad('names no database (or more than one path part)')
  const params = new Map<string, string>()
  for (const [key, value] of parsed.searchParams) {
    if (!options.params.includes(key)) {
      if (options.clientParams) continue
      throw bad(`has the parameter "${key.slice(0, 40)}", which it does not read`)
    }
    if (params.has(key) || value === '') throw bad(`gives ?${key}= twice or empty`)
    params.set(key, value)
  }
  const port = parsed.port === '' ? options.defaultPort : Number(parsed.port)
  if (port < 1) throw bad(`has port ${parsed.port}`)
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port,
    user: decode(parsed.username, 'user name'),
    password: parsed.password === '' ? undefined : decode(parsed.password, 'password'),
    database,
    params,
    serverUrl(scheme) {
      const server = new URL(url)
      for (const key of options.params) server.searchParams.delete(key)
      return `${scheme}:${server.href.slice(server.protocol.length)}`
    }
  }
}
