/** Recording what this process prints (stdout/stderr writes, console calls) while it still prints: for scans of the output. */

/** Copies every stdout/stderr write into `into` (as text); returns the undo. */
export function recordStdio(into: string[]): () => void {
  const undo = [process.stdout, process.stderr].map(stream => {
    const write = stream.write.bind(stream)
    stream.write = ((chunk: any, ...rest: any[]) => {
      into.push(String(chunk))
      return write(chunk, ...rest)
    }) as typeof stream.write
    return () => (stream.write = write)
  })
  return () => undo.reverse().forEach(u => u())
}

/** Copies the arguments of every console.info/warn/log call into `into`; returns the undo. */
export function recordConsole(into: unknown[][]): () => void {
  const undo = (['info', 'warn', 'log'] as const).map(method => {
    const inner = console[method]
    console[method] = (...args: unknown[]) => {
      into.push(args)
      inner.apply(console, args)
    }
    return () => (console[method] = inner)
  })
  return () => undo.reverse().forEach(u => u())
}
