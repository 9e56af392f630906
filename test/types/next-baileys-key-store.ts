/**
 * Compile-time test: the key store of our auth state fits the key-store contract of Baileys'
 * next release (its `develop` branch, May 2026: `src/Types/Auth.ts`, `SignalKeyStore`), written
 * here from its documented shape. The build (tsc over test/) fails when either side drifts.
 */
import type { AuthenticationCreds, SignalDataSet, SignalDataTypeMap } from '@whiskeysockets/baileys'
import type { VaultAuthState } from '../../src/index.js'

type Awaitable<T> = T | Promise<T>

/** Baileys develop's SignalKeyStore: list/listIds optional, streaming async iterables. */
export type NextSignalKeyStore = {
  get<T extends keyof SignalDataTypeMap>(type: T, ids: string[]): Awaitable<{ [id: string]: SignalDataTypeMap[T] }>
  set(data: SignalDataSet): Awaitable<void>
  clear?(): Awaitable<void>
  list?<T extends keyof SignalDataTypeMap>(type: T): AsyncIterable<readonly [id: string, value: SignalDataTypeMap[T]]>
  listIds?<T extends keyof SignalDataTypeMap>(type: T): AsyncIterable<string>
}

/** Baileys develop's AuthenticationState. */
export type NextAuthenticationState = { creds: AuthenticationCreds; keys: NextSignalKeyStore }

/** What migrateAuthState requires of a source: `list` present. */
type ListingKeyStore = NextSignalKeyStore & Required<Pick<NextSignalKeyStore, 'list' | 'listIds'>>

export function fitsNextBaileys(auth: VaultAuthState): NextAuthenticationState {
  const keys: ListingKeyStore = auth.state.keys
  const state: NextAuthenticationState = auth.state
  void keys
  return state
}

/** Control: the shape this package had before (listIds returning a Promise of an array) is refused. */
export function refusesTheOldShape(old: Omit<VaultAuthState['state']['keys'], 'listIds'> & { listIds(type: string): Promise<string[]> }): void {
  // @ts-expect-error TS2322: Promise<string[]> is not an AsyncIterable<string>
  const keys: NextSignalKeyStore = old
  void keys
}
