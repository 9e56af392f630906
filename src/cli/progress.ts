import type { ProgressListener, ToolProgress } from '../tools/progress.js'
import type { CommandContext } from './command.js'

export interface ProgressBar {
  listener: ProgressListener | undefined
  /** Clears the bar (call before printing results). */
  end(): void
}

const WIDTH = 24
const REDRAW_MS = 100
/** Work that finishes faster than this never shows a bar (no flicker on small stores). */
const SHOW_AFTER_MS = 300

/**
 * A one-line progress bar on stderr. Off when stderr is not a terminal or with --json, so
 * pipes, logs and machine-readable output stay clean.
 */
export function progressBar(ctx: CommandContext, label: string, timing: { showAfterMs?: number; redrawMs?: number } = {}): ProgressBar {
  if (ctx.json || !ctx.stderr.isTTY) return { listener: undefined, end() {} }
  const showAfter = timing.showAfterMs ?? SHOW_AFTER_MS
  const redraw = timing.redrawMs ?? REDRAW_MS
  const started = Date.now()
  let lastDraw = 0
  let drawn = false
  const draw = (p: ToolProgress) => {
    const now = Date.now()
    if (now - started < showAfter || now - lastDraw < redraw) return
    lastDraw = now
    drawn = true
    const phase = `${label} ${p.phase}`.padEnd(16)
    let line: string
    if (p.total) {
      const ratio = Math.min(1, p.done / p.total)
      const filled = Math.round(ratio * WIDTH)
      line = `${phase} [${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}] ${String(Math.floor(ratio * 100)).padStart(3)}% ${p.done}/${p.total} keys`
    } else line = `${phase} ${p.done} keys`
    if (p.session) line += `  ${p.session}`
    ctx.stderr.write(`\r\x1b[K${line}`)
  }
  return {
    listener: draw,
    end() {
      if (drawn) ctx.stderr.write('\r\x1b[K')
      drawn = false
    }
  }
}
