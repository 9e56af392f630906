import type { Driver, ListEntry, ListOptions } from '../../core/driver.js'
import { refuseWrites } from '../read-only.js'

/** What an importer reads from another project's layout; values are Baileys' BufferJSON text as UTF-8 bytes. */
export interface ImportSource {
  /** Short name for messages, e.g. 'mysql-baileys'. */
  kind: string
  /** The source's URL with its password removed, for messages. */
  label: string
  sessions(): AsyncIterable<string>
  getCreds(session: string): Promise<Uint8Array | undefined>
  get(session: string, type: string, ids: readonly string[]): Promise<Map<string, Uint8Array>>
  list(session: string, type?: string, options?: ListOptions): AsyncIterable<ListEntry>
  countKeys?(session: string): Promise<Record<string, number>>
  close(): Promise<void>
}

/**
 * A driver over an importer's source: values are bare BufferJSON text (as the file: store keeps
 * them), and write, drop and rename are refused, so nothing is ever written to the source.
 */
export function importDriver(source: ImportSource): Driver {
  const { label, ...reads } = source
  return refuseWrites({ ...reads, capabilities: { bareJson: true, foreign: true }, write: async () => {}, drop: async () => {} }, label)
}
