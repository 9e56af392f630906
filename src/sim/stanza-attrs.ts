import type { BinaryNode } from '../core/baileys.js'
import { ProtocolError } from './noise.js'

/**
 * An attribute the protocol requires of a client's stanza (a message's id and to, a user's
 * jid): a stanza without it is refused, and the connection closes naming it.
 */
export function requiredAttr(node: BinaryNode, name: string): string {
  const value = node.attrs[name]
  if (value === undefined) throw new ProtocolError(`<${node.tag}> without ${name}`)
  return value
}

/**
 * A stanza's attributes without the ones that are not known: what goes on the wire is the
 * same (Baileys' encoder leaves undefined attributes out), and the type says so.
 */
export function knownAttrs(attrs: Record<string, string | undefined>): Record<string, string> {
  const known: Record<string, string> = {}
  for (const [name, value] of Object.entries(attrs)) if (value !== undefined) known[name] = value
  return known
}
