/**
 * Request bodies and JSON answers of the control API: a body over 64 KiB is 413, bad JSON 400,
 * and every error is `{ "error": { "code", "message" } }`. A VaultError's message is safe to show
 * (messages never carry a secret); any other error is reported as INTERNAL without its text.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { isVaultError } from '../core/errors.js'

export interface FieldSpec {
  required: boolean
  what: string
  pattern?: RegExp
}

export const MAX_BODY_BYTES = 64 * 1024
/** Past this much, an oversized body is not even drained: the connection is cut. */
const DRAIN_LIMIT = 8 * 1024 * 1024

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {}
  ) {
    super(message)
  }
}

const STATUS_OF: Record<string, number> = { NOT_FOUND: 404, INVALID_ARGUMENT: 400, CONFLICT: 409, LEASE_HELD: 409, BACKEND_UNAVAILABLE: 503 }

/** The status, code and message an error is answered with. */
export function describeError(err: unknown): HttpError {
  if (err instanceof HttpError) return err
  if (isVaultError(err)) return new HttpError(STATUS_OF[err.code] ?? 500, err.code, err.message)
  return new HttpError(500, 'INTERNAL', 'An internal error occurred; the server log of baileys-vault run says more.')
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers })
  res.end(text)
}

export function sendError(res: ServerResponse, err: unknown): void {
  const e = describeError(err)
  if (res.headersSent) return void res.destroy()
  sendJson(res, e.status, { error: { code: e.code, message: e.message } }, e.headers)
}

/** The JSON body, or undefined when there is none. 413 past 64 KiB (drained first, so the client reads the answer), 400 for bad JSON. */
export async function readJson(req: IncomingMessage): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0)
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > DRAIN_LIMIT) req.destroy()
    else if (size <= MAX_BODY_BYTES) chunks.push(chunk)
  }
  if (size > MAX_BODY_BYTES || declared > MAX_BODY_BYTES)
    throw new HttpError(413, 'PAYLOAD_TOO_LARGE', `A request body may be at most ${MAX_BODY_BYTES} bytes; this one had ${size}.`)
  if (size === 0) return undefined
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new HttpError(400, 'INVALID_JSON', 'The request body is not valid JSON; send a JSON object with content-type application/json.')
  }
}

/** The JSON body as an object of the given optional string fields; anything else is 400. */
export async function readFields<K extends string>(req: IncomingMessage, fields: Record<K, FieldSpec>): Promise<Partial<Record<K, string>>> {
  const body = await readJson(req)
  if (body === undefined && !Object.values<{ required: boolean }>(fields).some(f => f.required)) return {}
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest(`The body must be a JSON object with ${describeFields(fields)}.`)
  const out: Partial<Record<K, string>> = {}
  for (const key of Object.keys(body)) if (!(key in fields)) throw badRequest(`Unknown field "${key}"; the body takes ${describeFields(fields)}.`)
  for (const [key, spec] of Object.entries(fields) as Array<[K, FieldSpec]>) {
    const value = (body as Record<string, unknown>)[key]
    if (value === undefined && !spec.required) continue
    if (typeof value !== 'string' || value === '' || (spec.pattern && !spec.pattern.test(value))) throw badRequest(`"${key}" must be ${spec.what}.`)
    out[key] = value
  }
  return out
}

const describeFields = (fields: Record<string, FieldSpec>) =>
  Object.entries(fields)
    .map(([k, f]) => `"${k}"${f.required ? '' : ' (optional)'}`)
    .join(', ')

export const badRequest = (message: string): HttpError => new HttpError(400, 'INVALID_ARGUMENT', message)
