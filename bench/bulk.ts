import type { BenchTarget } from './targets.js'
export async function runBulk(_targets: BenchTarget[]): Promise<void> {}
