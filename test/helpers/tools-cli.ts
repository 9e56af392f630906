import { buildCli } from '../../src/cli/build-cli.js'

export interface CliRun {
  code: number
  stdout: string
  stderr: string
  /** stdout parsed as JSON (for --json runs). */
  json(): any
}

/** Runs the CLI in-process with captured outputs. `tty` makes stderr look like a terminal. */
export async function runCli(argv: string[], options: { tty?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<CliRun> {
  let stdout = ''
  let stderr = ''
  const code = await buildCli(argv, {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t), isTTY: options.tty },
    env: options.env ?? {}
  })
  return { code, stdout, stderr, json: () => JSON.parse(stdout) }
}
