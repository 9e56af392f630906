/**
 * GET /: the dashboard page, one static HTML file shipped in the package (assets/dashboard.html:
 * no CDN, no build step). The page holds no data: it asks for the token (or reads it from the
 * URL fragment, which never reaches the server) and calls /api/ with it.
 */
import { existsSync, readFileSync } from 'node:fs'
import type { ServerResponse } from 'node:http'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ASSET = join('assets', 'dashboard.html')
let page: Buffer | undefined

/** The page, found above this module (dist/runtime/ in the package, build/src/runtime/ in tests). */
function loadPage(): Buffer {
  if (page) return page
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let up = 0; up < 5; up++, dir = dirname(dir)) {
    if (existsSync(join(dir, ASSET))) return (page = readFileSync(join(dir, ASSET)))
  }
  throw new Error(`${ASSET} is missing from the baileys-vault package; reinstall it.`)
}

export function serveDashboard(res: ServerResponse): void {
  const body = loadPage()
  res.writeHead(200, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy':
      "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff'
  })
  res.end(body)
}
