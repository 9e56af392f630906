import { dirname, extname } from 'node:path'

/**
 * Finds where a file of the repository reads or names a path outside it: a workspace or home
 * folder, the `shared` folder beside a checkout, or a relative path that climbs above the
 * repository root from where the file runs. A heuristic over the text, tuned to be strict on
 * paths and quiet on everything else.
 */
export interface OutsidePath {
  line: number
  reason: string
  text: string
}

/** Absolute folders that belong to a machine, never to the repository. */
const MACHINE_FOLDER = /(?<![\w./~-])\/(?:work|home|Users|root|mnt)\/[\w.-]/
/** The folder beside a checkout that the fixtures once came from. */
const SIBLING_SHARED = /\.\.[/\\]shared(?:[/\\]|\b)/
/** A chain of `../` written out, as in `'../../../package.json'` or `cd ../..`. */
const UP_CHAIN = /(?<![\w.])(?:\.\.[/\\])+(?:\.\.(?![\w.]))?/g
/** A string literal: '…', "…" or `…` on one line. */
const LITERAL = /(['"`])((?:\\.|(?!\1)[^\\\n])*)\1/g

/** How many folders a path climbs above where it starts: `a/../..` climbs 1. */
export function climb(path: string): number {
  let depth = 0
  let lowest = 0
  for (const segment of path.split(/[/\\]/)) {
    if (segment === '..') lowest = Math.min(lowest, --depth)
    else if (segment !== '' && segment !== '.') depth++
  }
  return -lowest
}

/**
 * How far up a relative path in `file` may climb and stay inside the repository: the folder's
 * depth, one more for TypeScript and JavaScript, which run compiled one folder down (build/ for the test build).
 */
export function allowedClimb(file: string): number {
  const dir = dirname(file)
  const depth = dir === '.' ? 0 : dir.split('/').length
  return ['.ts', '.js', '.mjs', '.cjs'].includes(extname(file)) ? depth + 1 : depth
}

/**
 * String literals next to each other in a call or array (`'..', '..', 'shared'`), joined as
 * the path they build, with the line they start on.
 */
function literalPaths(text: string): Array<{ line: number; path: string }> {
  const out: Array<{ line: number; path: string; end: number }> = []
  for (const m of text.matchAll(LITERAL)) {
    const start = m.index!
    const last = out[out.length - 1]
    if (last && /^\s*,\s*$/.test(text.slice(last.end, start))) {
      last.path += '/' + m[2]
      last.end = start + m[0].length
    } else {
      out.push({ line: lineOf(text, start), path: m[2] ?? '', end: start + m[0].length })
    }
  }
  return out
}

const lineOf = (text: string, index: number) => text.slice(0, index).split('\n').length

/** At most one finding per line: the first reason found. */
export function findOutsidePaths(file: string, text: string): OutsidePath[] {
  const found = new Map<number, OutsidePath>()
  const add = (line: number, reason: string, text: string) => {
    if (!found.has(line)) found.set(line, { line, reason, text: text.trim() })
  }
  const limit = allowedClimb(file)
  const lines = text.split('\n')
  lines.forEach((content, i) => {
    if (MACHINE_FOLDER.test(content)) add(i + 1, 'an absolute path to a machine folder', content)
    if (SIBLING_SHARED.test(content)) add(i + 1, 'the shared folder beside the repository', content)
    for (const [chain] of content.matchAll(UP_CHAIN)) {
      if (climb(chain) > limit) add(i + 1, `climbs ${climb(chain)} folders up from ${file}, above the repository root`, content)
    }
  })
  for (const { line, path } of literalPaths(text)) {
    if (climb(path) > limit) add(line, `builds a path climbing ${climb(path)} folders up from ${file}, above the repository root`, lines[line - 1] ?? '')
    else if (SIBLING_SHARED.test(path)) add(line, 'builds a path to the shared folder beside the repository', lines[line - 1] ?? '')
  }
  return [...found.values()].sort((a, b) => a.line - b.line)
}
