/**
 * The simulator's TLS certificate: wss:// for Baileys, https:// for the control API and media.
 * Generated at start (self-signed, for the loopback names and addresses), or given by the caller.
 * Clients accept it with `rejectUnauthorized: false` (an https.Agent for makeWASocket's
 * `agent`/`fetchAgent`) or NODE_TLS_REJECT_UNAUTHORIZED=0, as with bartender.
 */
import { VaultError } from '../core/errors.js'

export interface TlsCertificate {
  /** PEM private key. */
  key: string
  /** PEM certificate. */
  cert: string
}

const VALID_DAYS = 365

/** A fresh self-signed certificate for localhost, 127.0.0.1 and ::1 (the `selfsigned` package). */
export async function selfSignedCertificate(): Promise<TlsCertificate> {
  let generate: typeof import('selfsigned').generate
  try {
    ;({ generate } = await import('selfsigned'))
  } catch (err) {
    throw new VaultError('BACKEND_UNAVAILABLE', 'TLS needs the "selfsigned" package: npm install selfsigned, or pass { key, cert } as tls.', { cause: err })
  }
  const notAfterDate = new Date(Date.now() + VALID_DAYS * 24 * 3600 * 1000)
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notAfterDate,
    extensions: [
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' }
        ]
      }
    ]
  })
  return { key: pems.private, cert: pems.cert }
}
