/**
 * What the server answers to a logged-in device: every IQ gets a reply (unknown ones an empty
 * result, so the client never waits for a query timeout), messages are routed to contacts,
 * receipts are acknowledged.
 */
import {
  encodeBigEndian,
  getBinaryNodeChild,
  getBinaryNodeChildBuffer,
  getBinaryNodeChildren,
  isJidGroup,
  jidDecode,
  jidNormalizedUser,
  type BinaryNode
} from '../core/baileys.js'
import { randomBytes } from 'node:crypto'
import type { SimConnection } from './connection.js'
import type { Contact } from './contact.js'
import { MAX_MEDIA_FILE_BYTES } from './media-store.js'
import { handleGroupIq, routeGroupMessage, type GroupHost } from './groups.js'
import { routeDirectMessage, routeReceipt } from './routing.js'
import { unixNow, type DeviceRecord } from './state.js'
import { knownAttrs, requiredAttr } from './stanza-attrs.js'

export interface HandlerHost extends GroupHost {
  /** A contact by PN or LID user. */
  contactByUser(user: string | undefined): Contact | undefined
  /** Delivers the device's queued stanzas and turns live delivery on. */
  flushPending(conn: SimConnection): void
  /** host:port where media is uploaded and downloaded. */
  mediaHost(): string
  /** Removes a device (logout from the client side). */
  unlink(device: DeviceRecord): void
  log(message: string): void
}

const SERVER = 's.whatsapp.net'

const children = (node: BinaryNode | undefined): BinaryNode[] => (Array.isArray(node?.content) ? node.content : [])

const result = (iq: BinaryNode, content?: BinaryNode[]): BinaryNode => ({
  tag: 'iq',
  attrs: knownAttrs({ from: SERVER, type: 'result', id: iq.attrs.id }),
  ...(content ? { content } : {})
})

const readUInt = (buf: Uint8Array | undefined): number | undefined =>
  buf && buf.length > 0 && buf.length <= 6 ? Buffer.from(buf).readUIntBE(0, buf.length) : undefined

export async function handleNode(host: HandlerHost, conn: SimConnection, node: BinaryNode): Promise<void> {
  const device = conn.device
  if (!device) {
    // A registering device has no account yet: its pair-device replies are resolved as query
    // replies; any other query still gets an answer so nothing waits for a timeout.
    if (node.tag === 'iq' && (node.attrs.type === 'get' || node.attrs.type === 'set')) conn.send(registrationReply(host, conn, node))
    return
  }
  switch (node.tag) {
    case 'iq':
      return handleIq(host, conn, device, node)
    case 'message':
      return handleMessage(host, conn, device, node)
    case 'receipt':
      return handleReceipt(host, conn, device, node)
    case 'presence':
      // The name a client announces is what its messages carry as `notify` (its push name).
      if (node.attrs.name) device.account.pushName = node.attrs.name
      return
    default:
      // ack, presence, ib (unified_session), chatstate, notification acks: nothing to answer.
      return
  }
}

/**
 * `link_code_companion_reg stage=companion_hello` (Baileys' requestPairingCode): the companion
 * asks to link by code; the phone finds the request when the user enters the code. The reply
 * carries the ref the companion echoes in companion_finish.
 */
function registrationReply(host: HandlerHost, conn: SimConnection, iq: BinaryNode): BinaryNode {
  const reg = getBinaryNodeChild(iq, 'link_code_companion_reg')
  if (reg?.attrs.stage !== 'companion_hello') return result(iq)
  const wrapped = getBinaryNodeChildBuffer(reg, 'link_code_pairing_wrapped_companion_ephemeral_pub')
  const jid = reg.attrs.jid
  if (!wrapped || !jid) return result(iq)
  const ref = randomBytes(16).toString('base64')
  conn.codeRequest = { jid: jidNormalizedUser(jid), wrappedEphemeral: Buffer.from(wrapped), ref }
  host.log(`connection ${conn.id} asks to link by code to ${jid}`)
  return result(iq, [{ tag: 'link_code_companion_reg', attrs: {}, content: [{ tag: 'link_code_pairing_ref', attrs: {}, content: Buffer.from(ref) }] }])
}

function handleIq(host: HandlerHost, conn: SimConnection, device: DeviceRecord, iq: BinaryNode): void {
  if (iq.attrs.type !== 'get' && iq.attrs.type !== 'set') return
  const first = children(iq)[0]
  const xmlns = iq.attrs.xmlns
  switch (xmlns) {
    case 'encrypt':
      conn.send(handleEncrypt(host, device, iq, first))
      // digest is the last query before the client reports 'open'.
      if (first?.tag === 'digest') afterOpen(host, conn)
      return
    case 'usync':
      return conn.send(result(iq, [usyncReply(host, device, first)]))
    case 'passive':
      return conn.send(result(iq))
    case 'w:g2':
      return conn.send(handleGroupIq(host, device, iq))
    case 'w:m':
      if (first?.tag !== 'media_conn') return conn.send(result(iq))
      return conn.send(
        result(iq, [
          {
            tag: 'media_conn',
            attrs: { auth: 'sim', ttl: '3600', auth_ttl: '3600', max_buckets: '1' },
            content: [{ tag: 'host', attrs: { hostname: host.mediaHost(), maxContentLengthBytes: MAX_MEDIA_FILE_BYTES.toString() } }]
          }
        ])
      )
    case 'w:p':
      return conn.send(result(iq))
    case 'privacy':
      if (first?.tag === 'privacy' && iq.attrs.type === 'get') {
        conn.send(result(iq, [{ tag: 'privacy', attrs: {}, content: PRIVACY.map(([name, value]) => ({ tag: 'category', attrs: { name, value } })) }]))
      } else conn.send(result(iq))
      return afterOpen(host, conn)
    case 'abt':
      conn.send(result(iq, [{ tag: 'props', attrs: { protocol: '1', hash: 'sim' } }]))
      return afterOpen(host, conn)
    case 'blocklist':
      conn.send(result(iq, [{ tag: 'list', attrs: {} }]))
      return afterOpen(host, conn)
    case 'w:sync:app:state':
      // Echo each requested collection with no patches, or the client loops forever.
      return conn.send(
        result(iq, [
          {
            tag: 'sync',
            attrs: {},
            content: getBinaryNodeChildren(first, 'collection').map(c => ({
              tag: 'collection',
              attrs: knownAttrs({ name: c.attrs.name, version: c.attrs.version || '0' })
            }))
          }
        ])
      )
    case 'md':
      if (first?.tag === 'remove-companion-device') {
        conn.send(result(iq))
        host.unlink(device)
        return
      }
      return conn.send(result(iq))
    default:
      return conn.send(result(iq))
  }
}

const PRIVACY: Array<[string, string]> = [
  ['readreceipts', 'all'],
  ['last', 'all'],
  ['online', 'all'],
  ['profile', 'all'],
  ['status', 'all'],
  ['groupadd', 'all']
]

/** The init queries come after `open`: a safe moment to deliver what waited for the device. */
function afterOpen(host: HandlerHost, conn: SimConnection): void {
  if (!conn.ready) host.flushPending(conn)
}

function handleEncrypt(host: HandlerHost, device: DeviceRecord, iq: BinaryNode, first: BinaryNode | undefined): BinaryNode {
  switch (first?.tag) {
    case 'count':
      return result(iq, [{ tag: 'count', attrs: { value: device.preKeys.size.toString() } }])
    case 'digest':
      return result(iq, [digestNode(device)])
    case 'rotate': {
      const skey = readSignedPreKey(getBinaryNodeChild(first, 'skey'))
      if (skey) device.signedPreKey = skey
      return result(iq)
    }
    case 'key':
      return result(iq, [{ tag: 'list', attrs: {}, content: bundleNodes(host, first) }])
    default:
      if (iq.attrs.type === 'set' && getBinaryNodeChild(iq, 'list')) {
        storeUpload(host, device, iq)
        return result(iq)
      }
      return result(iq)
  }
}

/** A pre-key upload: `<registration> <type> <identity> <list><key>… <skey>`. */
function storeUpload(host: HandlerHost, device: DeviceRecord, iq: BinaryNode): void {
  for (const key of getBinaryNodeChildren(getBinaryNodeChild(iq, 'list'), 'key')) {
    const id = readUInt(getBinaryNodeChildBuffer(key, 'id'))
    const value = getBinaryNodeChildBuffer(key, 'value')
    if (id !== undefined && value?.length === 32) device.preKeys.set(id, Buffer.from(value))
  }
  const skey = readSignedPreKey(getBinaryNodeChild(iq, 'skey'))
  if (skey) device.signedPreKey = skey
  device.preKeyUploads++
  host.log(`${device.jid}: pre-keys uploaded, ${device.preKeys.size} on the server`)
}

function readSignedPreKey(node: BinaryNode | undefined): DeviceRecord['signedPreKey'] | undefined {
  const id = readUInt(getBinaryNodeChildBuffer(node, 'id'))
  const value = getBinaryNodeChildBuffer(node, 'value')
  const signature = getBinaryNodeChildBuffer(node, 'signature')
  if (id === undefined || value?.length !== 32 || signature?.length !== 64) return undefined
  return { id, value: Buffer.from(value), signature: Buffer.from(signature) }
}

function digestNode(device: DeviceRecord): BinaryNode {
  return {
    tag: 'digest',
    attrs: {},
    content: [
      { tag: 'registration', attrs: {}, content: encodeBigEndian(device.registrationId, 4) },
      { tag: 'type', attrs: {}, content: Buffer.from([5]) },
      { tag: 'identity', attrs: {}, content: device.identityKey },
      signedPreKeyNode(device),
      { tag: 'list', attrs: {}, content: [...device.preKeys.keys()].map(id => ({ tag: 'id', attrs: {}, content: encodeBigEndian(id, 3) })) }
    ]
  }
}

function signedPreKeyNode(device: DeviceRecord): BinaryNode {
  const { id, value, signature } = device.signedPreKey
  return {
    tag: 'skey',
    attrs: {},
    content: [
      { tag: 'id', attrs: {}, content: encodeBigEndian(id, 3) },
      { tag: 'value', attrs: {}, content: value },
      { tag: 'signature', attrs: {}, content: signature }
    ]
  }
}

/** `encrypt get <key><user jid/>…`: one bundle per known user, `jid` echoed as requested. */
function bundleNodes(host: HandlerHost, keyNode: BinaryNode): BinaryNode[] {
  const out: BinaryNode[] = []
  for (const user of getBinaryNodeChildren(keyNode, 'user')) {
    const jid = user.attrs.jid
    if (jid === undefined) continue // names nobody: left out, as unknown users are below
    const decoded = jidDecode(jid)
    const contact = host.contactByUser(decoded?.user)
    if (contact && !decoded?.device) {
      out.push(contact.bundleNode(jid))
      continue
    }
    const device = host.state.byJid(jid)
    if (device) {
      const bundle = host.state.takeBundle(device)
      out.push({
        tag: 'user',
        attrs: { jid },
        content: [
          { tag: 'registration', attrs: {}, content: encodeBigEndian(bundle.registrationId, 4) },
          { tag: 'type', attrs: {}, content: Buffer.from([5]) },
          { tag: 'identity', attrs: {}, content: device.identityKey },
          signedPreKeyNode(device),
          ...(bundle.preKey
            ? [
                {
                  tag: 'key',
                  attrs: {},
                  content: [
                    { tag: 'id', attrs: {}, content: encodeBigEndian(bundle.preKey.keyId, 3) },
                    { tag: 'value', attrs: {}, content: bundle.preKey.publicKey.subarray(1) }
                  ]
                }
              ]
            : [])
        ]
      })
    }
    // Unknown users are left out: an <error> child would abort the client's whole batch.
  }
  return out
}

/**
 * usync: devices, LIDs and contact status for contacts and for every account. The asking
 * device's own account gets its devices but not its LID: that would make the client fetch a
 * bundle for a phone (device 0) the simulator does not have.
 */
function usyncReply(host: HandlerHost, device: DeviceRecord, usync: BinaryNode | undefined): BinaryNode {
  const protocols = children(getBinaryNodeChild(usync, 'query')).map(q => q.tag)
  const users: BinaryNode[] = []
  for (const user of getBinaryNodeChildren(getBinaryNodeChild(usync, 'list'), 'user')) {
    const phone = getBinaryNodeChild(user, 'contact')?.content
    const jid =
      user.attrs.jid ??
      (phone
        ? `${Buffer.from(phone as Uint8Array)
            .toString()
            .replace(/^\+/, '')}@${SERVER}`
        : undefined)
    if (!jid) continue
    const decoded = jidDecode(jid)
    const contact = host.contactByUser(decoded?.user)
    const account = contact ? undefined : host.state.accountByUser(decoded?.user)
    const content: BinaryNode[] = []
    for (const protocol of protocols) {
      if (protocol === 'devices') {
        const list = contact
          ? [{ tag: 'device', attrs: { id: '0' } }]
          : account
            ? host.state.devicesOf(account).map(d => ({ tag: 'device', attrs: { id: d.id.toString(), 'key-index': d.keyIndex.toString() } }))
            : []
        content.push({ tag: 'devices', attrs: {}, content: [{ tag: 'device-list', attrs: {}, content: list }] })
      } else if (protocol === 'lid') {
        if (contact) content.push({ tag: 'lid', attrs: { val: contact.lidJid } })
        else if (account && account !== device.account) content.push({ tag: 'lid', attrs: { val: account.lidJid } })
      } else if (protocol === 'contact') {
        content.push({ tag: 'contact', attrs: { type: contact || account ? 'in' : 'out' } })
      }
    }
    users.push({ tag: 'user', attrs: { jid }, content })
  }
  return {
    tag: 'usync',
    attrs: { ...(usync?.attrs ?? {}) },
    content: [{ tag: 'list', attrs: {}, content: users }]
  }
}

/**
 * A message from the device: each `<enc>` for another linked device is routed to it, each one
 * for a contact is decrypted by that contact.
 */
function handleMessage(host: HandlerHost, conn: SimConnection, device: DeviceRecord, node: BinaryNode): void {
  const id = requiredAttr(node, 'id')
  const to = requiredAttr(node, 'to')
  conn.send({ tag: 'ack', attrs: { class: 'message', id, from: to, t: unixNow() } })
  if (isJidGroup(to)) return routeGroupMessage(host, device, node)
  const recipients = routeDirectMessage(host, device, node)
  for (const enc of getBinaryNodeChildren(node, 'enc')) recipients.push([to, enc])
  for (const [jid, enc] of recipients) {
    const contact = host.contactByUser(jidDecode(jid)?.user)
    if (!contact) continue // own other devices, the phone: nobody to decrypt
    contact.receive(device, id, enc).then(
      () => conn.send({ tag: 'receipt', attrs: { from: contact.jid, id, t: unixNow() } }),
      err => host.log(`${contact.pn} could not decrypt ${id}: ${(err as Error).message}`)
    )
  }
}

function handleReceipt(host: HandlerHost, conn: SimConnection, device: DeviceRecord, node: BinaryNode): void {
  const id = requiredAttr(node, 'id')
  // No `to` is legal: Baileys' 'sender' receipt names the chat as `recipient` and leaves `to` out
  // when it has no participant (messages-send.js sendReceipt).
  const { to, type } = node.attrs
  conn.send({ tag: 'ack', attrs: knownAttrs({ class: 'receipt', id, from: to, type }) })
  if (type === 'hist_sync') device.historySynced = true
  if (routeReceipt(host, device, node)) return
  if (type === 'retry' && to) {
    const contact = host.contactByUser(jidDecode(to)?.user)
    if (!contact) return
    contact.retryReceipts++
    contact.resend(device, id).catch(err => host.log(`${contact.pn} could not resend ${id}: ${(err as Error).message}`))
  }
}
