import type { BenchTarget } from './targets.js'
export async function runManyAccounts(_targets: BenchTarget[]): Promise<void> {}
