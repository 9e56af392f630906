/** A node child run until its stdout says a marker, then SIGKILLed there: a crash at a known point. */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'

/**
 * Spawns `node ...args` and resolves once its stdout includes `marker` (it fails if the child ends
 * first, saying `ended before <what>` and the child's output). Call `kill()` to SIGKILL it there;
 * it resolves once the child is gone, having checked that SIGKILL ended it. `out` is the stdout so far.
 */
export async function runUntilOutput(options: { args: string[]; marker: string; what: string }): Promise<{ out: string; kill(): Promise<void> }> {
  const child = spawn(process.execPath, options.args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stderr.on('data', d => (err += d))
  const exited = new Promise<NodeJS.Signals | null>(resolve => child.on('exit', (_code, signal) => resolve(signal)))
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', d => {
      out += d
      if (out.includes(options.marker)) resolve()
    })
    child.on('exit', () => reject(new Error(`child ended before ${options.what}: ${out} ${err}`)))
  })
  return {
    out,
    async kill() {
      child.kill('SIGKILL')
      assert.equal(await exited, 'SIGKILL')
    }
  }
}
