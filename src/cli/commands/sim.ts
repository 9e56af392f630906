import { EXIT_OK, EXIT_USAGE, flagString, UsageError, type Command } from '../command.js'
import { isVaultError } from '../../core/errors.js'
import { startSimulator } from '../../sim/index.js'

/** `baileys-vault sim`: runs the WhatsApp protocol simulator until interrupted. */
export const simCommand: Command = {
  name: 'sim',
  summary: 'Run a local WhatsApp protocol simulator for testing bots offline',
  usage: [
    'baileys-vault sim [--port 8080] [--host 127.0.0.1] [--phone 15550009999] [--tls]',
    '                  [--accounts by-push-name|single] [--delivery-delay 150] [--json]',
    '',
    'Listens on loopback only and prints the URL for makeWASocket({ waWebSocketUrl }) and the',
    "simulator's root key (make the client trust it: WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(KEY, 'hex')).",
    'Each client that sets makeWASocket({ pushName }) gets its own account, its number derived from',
    'the name, so clients can message each other (--accounts single: all link to --phone).',
    '--tls serves wss://HOST:PORT/ws/chat with a self-signed certificate (clients: an https.Agent',
    'with rejectUnauthorized: false as agent and fetchAgent); media upload and download need it.',
    '--delivery-delay: ms between a client sending and its recipients receiving (default 150).',
    'Runs until Ctrl-C. The same port answers a JSON control API over HTTP(S):',
    '  POST /scan  <qr text>                 link the device showing this QR',
    "  POST /admin/mock-phone/scan-qr <qr>   the same (the route Baileys' own e2e suite uses)",
    '  GET  /accounts                        accounts: number, LID, push name, devices',
    '  POST /pair-code {"code"}              link the device that requested this pairing code',
    '  GET  /devices                         linked devices as the server sees them',
    '  POST /kick  {"jid","reason"}          reason: restart | replaced | logout | badSession | forbidden | multideviceMismatch',
    '  POST /silence {"jid","ms"}            a half-open connection for ms (no pongs, no stanzas)',
    '  POST /restart {"downMs"?}             close every connection, refuse for downMs, listen again',
    '  POST /contacts/<number>/send {"text"} a contact texts the linked devices',
    '  GET  /contacts/<number>/next          the next message a device sent to that contact'
  ].join('\n'),
  valueFlags: ['port', 'host', 'phone', 'accounts', 'delivery-delay'],
  flags: ['tls'],

  async run(args, ctx) {
    const portText = flagString(args, 'port')
    const port = portText === undefined ? 0 : Number(portText)
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a number from 0 to 65535, got "${portText}"`)
    if (args.positionals.length > 0) throw new UsageError(`sim takes no arguments, got "${args.positionals[0]}"`)
    const accounts = flagString(args, 'accounts') ?? 'by-push-name'
    if (accounts !== 'by-push-name' && accounts !== 'single') throw new UsageError(`--accounts must be by-push-name or single, got "${accounts}"`)
    const delayText = flagString(args, 'delivery-delay')
    const deliveryDelayMs = delayText === undefined ? undefined : Number(delayText)
    if (deliveryDelayMs !== undefined && (!Number.isInteger(deliveryDelayMs) || deliveryDelayMs < 0 || deliveryDelayMs > 60_000)) {
      throw new UsageError(`--delivery-delay must be a number of milliseconds from 0 to 60000, got "${delayText}"`)
    }
    const tls = args.flags.tls === true

    let sim
    try {
      sim = await startSimulator({ port, host: flagString(args, 'host'), phoneNumber: flagString(args, 'phone'), accounts, deliveryDelayMs, tls })
    } catch (err) {
      if (isVaultError(err, 'INVALID_ARGUMENT')) throw new UsageError(err.message)
      ctx.stderr.write(`${(err as Error).message}\n`)
      return EXIT_USAGE
    }

    const rootKey = sim.rootPublicKey.toString('hex')
    const control = sim.url.replace(/^ws/, 'http').replace(/\/ws\/chat$/, '')
    if (ctx.json) ctx.stdout.write(`${JSON.stringify({ url: sim.url, control, rootPublicKey: rootKey, phone: sim.phone.jid, tls, accounts })}\n`)
    else {
      ctx.stdout.write(`WhatsApp simulator listening on ${sim.url}\n`)
      ctx.stdout.write(`root key: ${rootKey}\n`)
      ctx.stdout.write(`phone: ${sim.phone.jid}\n`)
      ctx.stdout.write(`control API: ${control}  (link a QR: POST ${control}/admin/mock-phone/scan-qr)\n`)
      ctx.stdout.write(
        `accounts: ${accounts === 'single' ? `every client links to ${sim.phone.jid}` : 'one per makeWASocket pushName (no pushName: the phone above)'}\n`
      )
      if (tls) {
        ctx.stdout.write('TLS: self-signed certificate. Clients: makeWASocket({ agent, fetchAgent }) with\n')
        ctx.stdout.write('  new https.Agent({ rejectUnauthorized: false }), or NODE_TLS_REJECT_UNAUTHORIZED=0 (media downloads use fetch)\n')
        ctx.stdout.write(`  Baileys' e2e suite: SOCKET_URL=${sim.url} yarn test:e2e\n`)
      }
      ctx.stdout.write('Press Ctrl-C to stop.\n')
    }

    await new Promise<void>(resolve => {
      const done = () => {
        process.off('SIGINT', done)
        process.off('SIGTERM', done)
        ctx.signal?.removeEventListener('abort', done)
        resolve()
      }
      if (ctx.signal?.aborted) return done()
      ctx.signal?.addEventListener('abort', done, { once: true })
      process.once('SIGINT', done)
      process.once('SIGTERM', done)
    })
    await sim.stop()
    if (!ctx.json) ctx.stdout.write('simulator stopped\n')
    return EXIT_OK
  }
}

export default simCommand
