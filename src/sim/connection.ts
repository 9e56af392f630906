/**
 * One client connection: framing, the Noise handshake, then encrypted binary nodes in order.
 * Any protocol violation closes this connection only; nothing here may throw into the server.
 */
import type { WebSocket } from 'ws'
import { decodeBinaryNode, encodeBinaryNode, type BinaryNode, type KeyPair, type ProtoTypes } from '../core/baileys.js'
import { encodeFrame, FrameReader, NoiseResponder, ProtocolError, type Transport } from './noise.js'
import type { CodeRequest } from './link-code.js'
import type { DeviceRecord, Registration } from './state.js'

/** What the connection needs from the server around it. */
export interface ConnectionHost {
  noiseKey: KeyPair
  certChain: Uint8Array
  log(message: string): void
  /** The handshake finished; the payload says whether this is a login or a registration. */
  onHandshake(conn: SimConnection, clientStatic: Buffer, payload: ProtoTypes.ClientPayload): void
  onNode(conn: SimConnection, node: BinaryNode): Promise<void>
  onClose(conn: SimConnection): void
}

const HANDSHAKE_TIMEOUT_MS = 20_000
/** How long a client gets to close by itself after a stream error before the server closes. */
const CLOSE_GRACE_MS = 1_500
const DEFAULT_QUERY_TIMEOUT_MS = 15_000

let connectionCounter = 0

export class SimConnection {
  readonly id = ++connectionCounter
  /** Set once a login is accepted. */
  device?: DeviceRecord
  /** Set on a registration connection (no creds.me yet). */
  registration?: Registration
  /** Refs this connection offered in pair-device. */
  refs: string[] = []
  /** Set when the registering client asked to link by code (companion_hello). */
  codeRequest?: CodeRequest
  /** Queued stanzas have been delivered and live delivery is on. */
  ready = false
  closed = false
  /** Half-open on purpose (see silence()): nothing is sent, what arrives is dropped. */
  silent = false

  private phase: 'hello' | 'finish' | 'transport' = 'hello'
  private readonly reader = new FrameReader()
  private readonly noise: NoiseResponder
  private transport?: Transport
  private chain: Promise<void> = Promise.resolve()
  private readonly waiters = new Map<string, { resolve: (node: BinaryNode) => void; reject: (err: Error) => void }>()
  private readonly timers = new Set<NodeJS.Timeout>()
  private readonly watchers = new Set<(node: BinaryNode) => boolean>()
  private readonly closeListeners = new Set<() => void>()
  private queryCounter = 0

  /** @internal the shipped types must not need @types/ws */
  constructor(
    private readonly ws: WebSocket,
    private readonly host: ConnectionHost
  ) {
    this.noise = new NoiseResponder(host.noiseKey, host.certChain)
    this.later(HANDSHAKE_TIMEOUT_MS, () => {
      if (this.phase !== 'transport') this.abort('handshake timed out')
    })
    ws.on('message', (data, isBinary) => this.onData(data, isBinary))
    ws.on('close', () => this.onSocketClosed())
    ws.on('error', () => this.onSocketClosed())
  }

  /** Sends one node, encrypted. Silently dropped once the connection is closed or while silent. */
  send(node: BinaryNode): void {
    if (this.closed || this.silent || !this.transport) return
    try {
      this.ws.send(encodeFrame(this.transport.encrypt(encodeBinaryNode(node))))
    } catch (err) {
      this.abort(`send failed: ${(err as Error).message}`)
    }
  }

  /** Sends an IQ and waits for the reply with the same id. */
  query(node: BinaryNode, timeoutMs = DEFAULT_QUERY_TIMEOUT_MS): Promise<BinaryNode> {
    const id = node.attrs.id || `sim-${this.id}-${++this.queryCounter}`
    node.attrs.id = id
    return new Promise((resolve, reject) => {
      const timer = this.later(timeoutMs, () => {
        this.waiters.delete(id)
        reject(new Error(`no reply to ${node.tag} ${id} within ${timeoutMs} ms`))
      })
      this.waiters.set(id, {
        resolve: reply => {
          clearTimeout(timer)
          this.timers.delete(timer)
          resolve(reply)
        },
        reject
      })
      if (this.closed) return this.failWaiters()
      this.send(node)
    })
  }

  /** Resolves a pending query; false when nobody waits for this id. */
  resolveReply(node: BinaryNode): boolean {
    const { id } = node.attrs
    if (node.tag !== 'iq' || (node.attrs.type !== 'result' && node.attrs.type !== 'error') || id === undefined) return false
    const waiter = this.waiters.get(id)
    if (!waiter) return false
    this.waiters.delete(id)
    waiter.resolve(node)
    return true
  }

  /**
   * Resolves with the first inbound node `match` accepts (the node is still handled as usual).
   * Rejects after `timeoutMs` or when the connection closes.
   */
  awaitNode(match: (node: BinaryNode) => boolean, timeoutMs = DEFAULT_QUERY_TIMEOUT_MS): Promise<BinaryNode> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new Error('connection closed'))
      const watcher = (node: BinaryNode): boolean => {
        if (!match(node)) return false
        done()
        resolve(node)
        return true
      }
      const timer = this.later(timeoutMs, () => {
        done()
        reject(new Error(`no matching stanza within ${timeoutMs} ms`))
      })
      const onClosed = () => reject(new Error('connection closed'))
      const done = () => {
        this.watchers.delete(watcher)
        this.closeListeners.delete(onClosed)
        clearTimeout(timer)
        this.timers.delete(timer)
      }
      this.watchers.add(watcher)
      this.closeListeners.add(onClosed)
    })
  }

  /**
   * A half-open connection for `ms`: nothing goes out (no pongs, no stanzas) and what comes in is
   * decrypted (to keep the frame counter) and dropped. The socket stays open. `onResume` runs if
   * the connection is still open afterwards.
   */
  silence(ms: number, onResume: () => void): void {
    if (this.closed) return
    this.silent = true
    this.later(ms, () => {
      this.silent = false
      onResume()
    })
  }

  private failWaiters(): void {
    for (const { reject } of this.waiters.values()) reject(new Error('connection closed'))
    this.waiters.clear()
    for (const listener of this.closeListeners) listener()
    this.closeListeners.clear()
  }

  /** Sends a final stanza (stream:error, failure), then closes if the client does not. */
  end(node?: BinaryNode): void {
    if (this.closed) return
    if (node) this.send(node)
    this.later(CLOSE_GRACE_MS, () => this.close())
  }

  close(code = 1000): void {
    if (this.closed) return
    this.markClosed()
    try {
      this.ws.close(code)
    } catch {
      this.ws.terminate()
    }
    // A peer that never answers the close handshake is cut off.
    setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS).unref()
  }

  /** Runs `fn` after `ms` unless the connection has closed; the timer never keeps the process alive. */
  later(ms: number, fn: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      if (!this.closed) fn()
    }, ms)
    timer.unref()
    this.timers.add(timer)
    return timer
  }

  private abort(reason: string): void {
    if (this.closed) return
    this.host.log(`connection ${this.id}: closing: ${reason}`)
    this.close(1002)
  }

  private onData(data: unknown, isBinary: boolean): void {
    if (this.closed) return
    try {
      if (!isBinary) throw new ProtocolError('text message')
      const chunk = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer)
      for (const frame of this.reader.push(chunk)) this.onFrame(frame)
    } catch (err) {
      this.abort(err instanceof ProtocolError ? err.message : `internal error: ${(err as Error).message}`)
    }
  }

  private onFrame(frame: Buffer): void {
    if (this.closed) return
    switch (this.phase) {
      case 'hello':
        this.ws.send(encodeFrame(this.noise.serverHello(frame)))
        this.phase = 'finish'
        return
      case 'finish': {
        const { clientStatic, payload, transport } = this.noise.clientFinish(frame)
        this.transport = transport
        this.phase = 'transport'
        this.host.onHandshake(this, clientStatic, payload)
        return
      }
      case 'transport': {
        // Decrypt now (the counter is per frame, in order); decode and handle in sequence.
        const plain = this.transport!.decrypt(frame)
        if (this.silent) return
        this.chain = this.chain.then(async () => {
          if (this.closed) return
          let node: BinaryNode
          try {
            node = await decodeBinaryNode(plain)
          } catch {
            return this.abort('undecodable binary node')
          }
          for (const watcher of this.watchers) if (watcher(node)) break
          try {
            if (!this.resolveReply(node)) await this.host.onNode(this, node)
          } catch (err) {
            this.abort(`handler failed on <${node.tag}>: ${(err as Error).message}`)
          }
        })
      }
    }
  }

  private markClosed(): void {
    if (this.closed) return
    this.closed = true
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
    this.failWaiters()
    this.host.onClose(this)
  }

  private onSocketClosed(): void {
    this.markClosed()
  }
}
