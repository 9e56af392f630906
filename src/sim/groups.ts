/**
 * Groups between the simulator's accounts (w:g2): create, metadata, participating,
 * add/remove/promote/demote with a status per participant, the w:gp2 notifications members get
 * (a `<create>` for whoever joins), and the member list a group message fans out to. Groups are
 * phone-number addressed: participants are PN JIDs, so a sender key is named by the sender's
 * PN device JID on both ends.
 */
import { getBinaryNodeChild, getBinaryNodeChildren, jidDecode, type BinaryNode } from '../core/baileys.js'
import { knownAttrs, requiredAttr } from './stanza-attrs.js'
import { randomInt } from 'node:crypto'
import { encryptedParts, forwardedAttrs, pnDeviceJid, type RoutingHost } from './routing.js'
import { newMessageId, unixNow, type Account, type DeviceRecord } from './state.js'

export type GroupRole = 'superadmin' | 'admin' | 'member'

export interface Group {
  /** The user part of the group JID, e.g. '120363012345678901'. */
  id: string
  subject: string
  creation: string
  creator: Account
  /** Members in join order, with their role. */
  members: Map<Account, GroupRole>
}

const PARTICIPANT_ACTIONS = ['add', 'remove', 'promote', 'demote'] as const
type ParticipantAction = (typeof PARTICIPANT_ACTIONS)[number]

const SERVER = 's.whatsapp.net'

export const groupJid = (group: Group): string => `${group.id}@g.us`

export class GroupRegistry {
  private readonly groups = new Map<string, Group>()

  /** The group a JID ('…@g.us') names, if it exists. */
  get(jid: string | undefined): Group | undefined {
    const decoded = jid ? jidDecode(jid) : undefined
    return decoded?.server === 'g.us' ? this.groups.get(decoded.user) : undefined
  }

  create(options: { subject: string; creator: Account; members: Account[] }): Group {
    let id: string
    do id = `120363${randomInt(10 ** 11, 10 ** 12)}`
    while (this.groups.has(id))
    const members = new Map<Account, GroupRole>([[options.creator, 'superadmin']])
    for (const account of options.members) if (!members.has(account)) members.set(account, 'member')
    const group: Group = { id, subject: options.subject, creation: unixNow(), creator: options.creator, members }
    this.groups.set(id, group)
    return group
  }

  /** Groups `account` is a member of. */
  of(account: Account): Group[] {
    return [...this.groups.values()].filter(g => g.members.has(account))
  }
}

export interface GroupHost extends RoutingHost {
  groups: GroupRegistry
}

const children = (node: BinaryNode | undefined): BinaryNode[] => (Array.isArray(node?.content) ? node.content : [])

/** The `<group>` node of metadata, create replies and `<create>` notifications. */
export function groupNode(group: Group): BinaryNode {
  return {
    tag: 'group',
    attrs: {
      id: group.id,
      subject: group.subject,
      s_t: group.creation,
      s_o: group.creator.pnJid,
      creation: group.creation,
      creator: group.creator.pnJid,
      addressing_mode: 'pn',
      size: group.members.size.toString()
    },
    content: [...group.members].map(([account, role]) => participantNode(account, role))
  }
}

function participantNode(account: Account, role?: GroupRole, extra: Record<string, string> = {}): BinaryNode {
  return { tag: 'participant', attrs: { jid: account.pnJid, lid: account.lidJid, ...(role && role !== 'member' ? { type: role } : {}), ...extra } }
}

const errorReply = (iq: BinaryNode, code: string, text: string): BinaryNode => ({
  tag: 'iq',
  attrs: knownAttrs({ from: SERVER, type: 'error', id: iq.attrs.id }),
  content: [{ tag: 'error', attrs: { code, text } }]
})

const resultReply = (iq: BinaryNode, content?: BinaryNode[]): BinaryNode => ({
  tag: 'iq',
  attrs: knownAttrs({ from: iq.attrs.to || 'g.us', type: 'result', id: iq.attrs.id }),
  ...(content ? { content } : {})
})

/** Sends a w:gp2 notification about `group` to every device of `accounts`. */
function notify(host: GroupHost, group: Group, accounts: Iterable<Account>, actor: Account, child: BinaryNode): void {
  const stanza = (): BinaryNode => ({
    tag: 'notification',
    attrs: { from: groupJid(group), type: 'w:gp2', id: newMessageId(), t: unixNow(), participant: actor.pnJid, participant_pn: actor.pnJid },
    content: [child]
  })
  for (const account of new Set(accounts)) for (const device of host.state.devicesOf(account)) host.delivery.send(device, stanza())
}

/** The account each `<participant jid>` names (PN or LID user), or undefined for an unknown number. */
function requestedParticipants(host: GroupHost, node: BinaryNode | undefined): Array<[string, Account | undefined]> {
  return getBinaryNodeChildren(node, 'participant').map(p => {
    const jid = requiredAttr(p, 'jid')
    return [jid, host.state.accountByUser(jidDecode(jid)?.user)]
  })
}

/** Answers a `w:g2` IQ from `device`. */
export function handleGroupIq(host: GroupHost, device: DeviceRecord, iq: BinaryNode): BinaryNode {
  const first = children(iq)[0]
  const me = device.account
  if (first?.tag === 'create') {
    const requested = requestedParticipants(host, first)
    const members = requested.map(([, account]) => account).filter((a): a is Account => !!a)
    const group = host.groups.create({ subject: first.attrs.subject || 'Group', creator: me, members })
    const node = groupNode(group)
    notify(host, group, group.members.keys(), me, { tag: 'create', attrs: {}, content: [node] })
    return resultReply(iq, [node])
  }
  if (first?.tag === 'participating') {
    return resultReply(iq, [{ tag: 'groups', attrs: {}, content: host.groups.of(me).map(groupNode) }])
  }
  const group = host.groups.get(iq.attrs.to)
  if (!group || !group.members.has(me)) return errorReply(iq, group ? '403' : '404', group ? 'forbidden' : 'item-not-found')
  if (first?.tag === 'query') return resultReply(iq, [groupNode(group)])
  if (first && (PARTICIPANT_ACTIONS as readonly string[]).includes(first.tag)) {
    if (group.members.get(me) === 'member') return errorReply(iq, '403', 'forbidden')
    return resultReply(iq, [changeParticipants(host, group, me, first.tag as ParticipantAction, first)])
  }
  if (first?.tag === 'subject' && first.content) {
    group.subject = Buffer.from(first.content as Uint8Array).toString('utf8')
    notify(host, group, group.members.keys(), me, { tag: 'subject', attrs: { subject: group.subject, s_t: unixNow() } })
    return resultReply(iq)
  }
  if (first?.tag === 'leave') return resultReply(iq)
  return resultReply(iq)
}

/**
 * add/remove/promote/demote: a status per participant ('200', or '404' not on WhatsApp or not a
 * member, '409' already a member), then one notification for the participants it changed.
 */
function changeParticipants(host: GroupHost, group: Group, actor: Account, action: ParticipantAction, node: BinaryNode): BinaryNode {
  const results: BinaryNode[] = []
  const changed: Account[] = []
  const before = [...group.members.keys()]
  for (const [jid, account] of requestedParticipants(host, node)) {
    let error: string | undefined
    if (!account) error = '404'
    else if (action === 'add') {
      if (group.members.has(account)) error = '409'
      else group.members.set(account, 'member')
    } else if (!group.members.has(account)) error = '404'
    else if (action === 'remove') group.members.delete(account)
    else if (group.members.get(account) !== 'superadmin') group.members.set(account, action === 'promote' ? 'admin' : 'member')
    if (!error && account) changed.push(account)
    results.push({ tag: 'participant', attrs: { jid, ...(error ? { error } : {}) } })
  }
  if (changed.length > 0) {
    const list = changed.map(a => participantNode(a))
    notify(host, group, action === 'add' ? before : [...before, ...group.members.keys()], actor, { tag: action, attrs: {}, content: list })
    // Whoever joins learns the whole group, as a new member's phone does.
    if (action === 'add') notify(host, group, changed, actor, { tag: 'create', attrs: {}, content: [groupNode(group)] })
  }
  return { tag: action, attrs: {}, content: results }
}

/**
 * A group message from `sender`: to every device of every current member except the sending
 * device, each with the `<enc>` the sender addressed to that device (the sender key, to devices
 * that lack it) and the group ciphertext. Devices of non-members get nothing, whatever the
 * sender encrypted for them.
 */
export function routeGroupMessage(host: GroupHost, sender: DeviceRecord, node: BinaryNode): void {
  const group = host.groups.get(node.attrs.to)
  if (!group || !group.members.has(sender.account)) return
  const groupEnc = getBinaryNodeChildren(node, 'enc').find(e => e.attrs.type === 'skmsg')
  const direct = new Map<DeviceRecord, BinaryNode>()
  for (const [jid, enc] of encryptedParts(node)) {
    const device = host.state.byJid(jid)
    if (device) direct.set(device, enc)
  }
  const identity = getBinaryNodeChild(node, 'device-identity')
  const t = unixNow()
  for (const account of group.members.keys()) {
    for (const device of host.state.devicesOf(account)) {
      if (device === sender) continue
      const own = direct.get(device)
      const content = [own, own?.attrs.type === 'pkmsg' ? identity : undefined, groupEnc].filter((n): n is BinaryNode => !!n)
      if (!own && !groupEnc) continue
      host.delivery.send(device, {
        tag: 'message',
        attrs: {
          ...forwardedAttrs(node),
          id: requiredAttr(node, 'id'),
          from: groupJid(group),
          participant: pnDeviceJid(sender),
          participant_lid: sender.account.lidJid,
          t,
          ...(sender.account.pushName ? { notify: sender.account.pushName } : {})
        },
        content
      })
    }
  }
}
