/**
 * Routing between linked clients, as the real server does: a `<message>` goes to every device it
 * carries an `<enc>` for (the recipient's devices, and the sender's other devices as a
 * device-sent copy), with the sender's address, LID and push name; receipts go back to the
 * sender. The server never decrypts anything here; it only moves ciphertext.
 */
import { getBinaryNodeChild, getBinaryNodeChildren, isJidGroup, jidDecode, jidEncode, jidNormalizedUser, type BinaryNode } from '../core/baileys.js'
import { requiredAttr } from './stanza-attrs.js'
import type { DeliveryQueue } from './delivery-queue.js'
import { unixNow, type Account, type DeviceRecord, type SimState } from './state.js'

export interface RoutingHost {
  state: SimState
  delivery: DeliveryQueue
  /** Diagnostics: JIDs, ids and stanza types only, never content. */
  log(message: string): void
}

/** Message attributes a recipient needs from the sender's stanza (edit: revoke and edit). */
const FORWARDED_ATTRS = ['type', 'edit', 'mediatype', 'category', 'expiration', 'addressing_mode'] as const

/** The `<enc>` nodes of a message by the device JID they are addressed to. */
export function encryptedParts(node: BinaryNode): Array<[string, BinaryNode]> {
  const parts: Array<[string, BinaryNode]> = []
  for (const target of getBinaryNodeChildren(getBinaryNodeChild(node, 'participants'), 'to')) {
    const enc = getBinaryNodeChild(target, 'enc')
    if (enc) parts.push([requiredAttr(target, 'jid'), enc])
  }
  return parts
}

/** The sender's device in PN form, e.g. '15550009999:2@s.whatsapp.net'. */
export const pnDeviceJid = (device: DeviceRecord): string => jidEncode(device.account.pn, 's.whatsapp.net', device.id)
export const lidDeviceJid = (device: DeviceRecord): string => jidEncode(device.account.lid, 'lid', device.id)

export function forwardedAttrs(node: BinaryNode): Record<string, string> {
  const attrs: Record<string, string> = {}
  for (const name of FORWARDED_ATTRS) if (node.attrs[name]) attrs[name] = node.attrs[name]
  return attrs
}

/** What a recipient's device needs besides the `<enc>`: the sender's signed identity with a pkmsg. */
function withIdentity(node: BinaryNode, enc: BinaryNode): BinaryNode[] {
  const identity = getBinaryNodeChild(node, 'device-identity')
  return enc.attrs.type === 'pkmsg' && identity ? [enc, identity] : [enc]
}

/**
 * A 1:1 message from `sender` to the accounts' devices it carries an `<enc>` for. Returns the
 * JIDs it was addressed to that no linked device has (the caller offers them to contacts).
 */
export function routeDirectMessage(host: RoutingHost, sender: DeviceRecord, node: BinaryNode): Array<[string, BinaryNode]> {
  const id = requiredAttr(node, 'id')
  const to = requiredAttr(node, 'to')
  const unrouted: Array<[string, BinaryNode]> = []
  const t = unixNow()
  for (const [jid, enc] of encryptedParts(node)) {
    const device = host.state.byJid(jid)
    if (!device || device === sender) {
      unrouted.push([jid, enc])
      continue
    }
    const own = device.account === sender.account
    host.log(`message ${id} ${pnDeviceJid(sender)} -> ${device.jid} (${enc.attrs.type}${own ? ', own device' : ''})`)
    host.delivery.send(device, {
      tag: 'message',
      attrs: {
        ...forwardedAttrs(node),
        id,
        from: pnDeviceJid(sender),
        t,
        // A copy for the sender's own other device names the chat it was sent to.
        ...(own ? { recipient: jidNormalizedUser(to) } : { sender_lid: sender.account.lidJid }),
        ...(sender.account.pushName ? { notify: sender.account.pushName } : {})
      },
      content: withIdentity(node, enc)
    })
  }
  return unrouted
}

/** The account and device (if named) a receipt's `to` or `participant` points at. */
function receiptTarget(state: SimState, jid: string | undefined): { account: Account; device?: DeviceRecord } | undefined {
  const decoded = jid ? jidDecode(jid) : undefined
  const account = state.accountByUser(decoded?.user)
  if (!account) return undefined
  return { account, device: decoded?.device && jid ? state.byJid(jid) : undefined }
}

/**
 * A receipt from `from` (delivered, read, played, retry …) goes to the devices of the account
 * it names: the named device, or all of them.
 */
export function routeReceipt(host: RoutingHost, from: DeviceRecord, node: BinaryNode): boolean {
  const id = requiredAttr(node, 'id')
  const { to, type, participant } = node.attrs
  const group = to && isJidGroup(to)
  const target = receiptTarget(host.state, group ? participant : to)
  if (!target || target.account === from.account) return false
  const devices = target.device ? [target.device] : host.state.devicesOf(target.account)
  // 'inactive' (a client not marked online) reaches the sender as a plain delivery receipt.
  const forwardedType = type === 'inactive' ? undefined : type
  // A retry names the asking device as participant: the sender encrypts again to exactly it,
  // and finds the message in its cache under the chat (the user JID, without device).
  const asking: Record<string, string> = type === 'retry' ? { participant: pnDeviceJid(from) } : {}
  const attrs: Record<string, string> = {
    id,
    t: node.attrs.t || unixNow(),
    ...(forwardedType ? { type: forwardedType } : {}),
    ...(group ? { from: to, participant: from.account.pnJid, ...asking } : { from: from.account.pnJid, ...asking })
  }
  const content = Array.isArray(node.content) ? node.content : undefined
  host.log(`receipt ${id} ${type ?? 'delivery'} ${pnDeviceJid(from)} -> ${devices.map(d => d.jid).join(', ') || 'no device'}`)
  for (const device of devices) host.delivery.send(device, { tag: 'receipt', attrs: { ...attrs }, ...(content ? { content } : {}) })
  return true
}
