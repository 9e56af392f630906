/** Paths, not server URLs: a ':' and '@' in them are file names (sqlite:/tmp/a:b@c.db). */
const PATH_SCHEMES = /^(sqlite|file|memory):/i

/**
 * Hides passwords in URLs before they are printed or put in an error message, also in URLs that
 * are not quite right (`redis:/:pw@h`, a typo in the scheme): those are what an "invalid URL"
 * message shows. The userinfo runs from after the scheme and its slashes to the LAST '@': a
 * password may itself hold '/' or a raw '@', and none of it may show.
 */
export function redactUrl(url: string): string {
  if (PATH_SCHEMES.test(url)) return url
  const at = url.lastIndexOf('@')
  // What stays visible after the last raw '@' may still hold a percent-encoded URL in a query
  // value (an importer's `?redis=redis%3A%2F%2F%3Apw%40host`): its password is hidden too.
  if (at < 0) return redactEncodedUrls(url)
  return redactUserinfo(url.slice(0, at)) + redactEncodedUrls(url.slice(at))
}

/** Query values that decode to a URL with a password, redacted and encoded again. */
function redactEncodedUrls(text: string): string {
  return text.replace(/([?&][^=&#]*=)([^&#]*%40[^&#]*)/gi, (whole, name: string, value: string) => {
    let decoded: string
    try {
      decoded = decodeURIComponent(value.replace(/\+/g, ' '))
    } catch {
      return `${name}***`
    }
    const hidden = redactUrl(decoded)
    return hidden === decoded ? whole : `${name}${encodeURIComponent(hidden)}`
  })
}

/** The text before the userinfo's last '@', with the password (and a garbled user name) hidden. */
function redactUserinfo(url: string): string {
  // After a well-formed scheme and its slashes; with a garbled scheme (`rediss//:pw@h`) from the start.
  const start = /^[a-z][a-z0-9+.-]*:\/*/i.exec(url)?.[0].length ?? 0
  const colon = url.indexOf(':', start)
  if (colon < 0) return url // user@host: no password
  const user = url.slice(start, colon)
  // Hiding too much is harmless: a '/', '?' or '#' before the colon hides the user name too.
  return `${url.slice(0, start)}${/[/?#]/.test(user) ? '***' : user}:***`
}
