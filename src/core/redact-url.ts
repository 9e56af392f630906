/** Paths, not server URLs: a ':' and '@' in them are file names (sqlite:/tmp/a:b@c.db). */
const PATH_SCHEMES = /^(sqlite|file|memory):/i

/**
 * Hides passwords in URLs before they are printed or put in an error message, also in URLs that
 * are not quite right (`redis:/:pw@h`, a typo in the scheme): those are what an "invalid URL"
 * message shows. The userinfo runs from after the scheme and its slashes to the LAST '@': a
 * password may itself hold '/' or a raw '@', and none of it may show.
 */
export function redactUrl(url: string): string {
  const at = url.lastIndexOf('@')
  if (at < 0 || PATH_SCHEMES.test(url)) return url
  // After a well-formed scheme and its slashes; with a garbled scheme (`rediss//:pw@h`) from the start.
  const start = /^[a-z][a-z0-9+.-]*:\/*/i.exec(url)?.[0].length ?? 0
  const colon = url.indexOf(':', start)
  if (colon < 0 || colon > at) return url // user@host: no password
  const user = url.slice(start, colon)
  // Hiding too much is harmless: a '/', '?' or '#' before the colon hides the user name too.
  return `${url.slice(0, start)}${/[/?#]/.test(user) ? '***' : user}:***${url.slice(at)}`
}
