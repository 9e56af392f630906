/**
 * The control side of `run`: --api-token (or BAILEYS_VAULT_API_TOKEN) mounts the control API and
 * the dashboard on the --http server; --webhook URL (repeatable) with --webhook-secret (or
 * BAILEYS_VAULT_WEBHOOK_SECRET) POSTs every event, signed. Checked before anything starts.
 */
import { VaultError } from '../core/errors.js'
import { parseDuration } from '../runtime/duration.js'
import { createControlApi, type RequestHandler } from '../runtime/http-api.js'
import { MIN_TOKEN_LENGTH } from '../runtime/http-auth.js'
import type { VaultMetrics } from '../runtime/metrics.js'
import type { Runtime } from '../runtime/runtime.js'
import { checkWebhookUrl, startWebhooks, type Webhooks } from '../runtime/webhooks.js'
import { flagList, flagString, UsageError, type ParsedArgs } from './command.js'

export interface ControlPlan {
  apiToken?: string
  webhooks?: { urls: string[]; secret: string; retryMaxMs: number }
}

export const CONTROL_VALUE_FLAGS = ['api-token', 'webhook', 'webhook-secret', 'webhook-retry-max']

export function controlPlan(args: ParsedArgs, env: NodeJS.ProcessEnv, http: { public: boolean } | undefined): ControlPlan {
  const apiToken = flagString(args, 'api-token') ?? (env.BAILEYS_VAULT_API_TOKEN || undefined)
  if (apiToken !== undefined && !http) throw new UsageError('--api-token serves the control API on the --http server: add --http 127.0.0.1:9464')
  if (apiToken !== undefined && apiToken.length < MIN_TOKEN_LENGTH)
    throw new UsageError(`the API token must be at least ${MIN_TOKEN_LENGTH} characters; make one with: openssl rand -hex 24`)
  if (http?.public && apiToken === undefined)
    throw new UsageError('--http-public needs --api-token (or BAILEYS_VAULT_API_TOKEN): a public endpoint is never served without a token')
  const urls = flagList(args, 'webhook')
  const secret = flagString(args, 'webhook-secret') ?? (env.BAILEYS_VAULT_WEBHOOK_SECRET || undefined)
  const retryText = flagString(args, 'webhook-retry-max')
  if (urls.length === 0 && (flagString(args, 'webhook-secret') !== undefined || retryText !== undefined))
    throw new UsageError('--webhook-secret and --webhook-retry-max go with --webhook URL')
  if (urls.length === 0) return { apiToken }
  if (secret === undefined) throw new UsageError('--webhook needs --webhook-secret (or BAILEYS_VAULT_WEBHOOK_SECRET): every body is signed with it')
  for (const url of urls) asUsage(() => checkWebhookUrl(url))
  const retryMaxMs = retryText === undefined ? 60_000 : asUsage(() => parseDuration(retryText, '--webhook-retry-max'))
  return { apiToken, webhooks: { urls, secret, retryMaxMs } }
}

const asUsage = <T>(fn: () => T): T => {
  try {
    return fn()
  } catch (err) {
    throw err instanceof VaultError && err.code === 'INVALID_ARGUMENT' ? new UsageError(err.message) : err
  }
}

/** The control API (when a token is set) and the webhooks (when URLs are given) of a started runtime. */
export function startControl(plan: ControlPlan, runtime: Runtime, metrics: VaultMetrics | undefined): { api?: RequestHandler; webhooks?: Webhooks } {
  const api = plan.apiToken === undefined ? undefined : createControlApi({ runtime, token: plan.apiToken })
  const hooks = plan.webhooks
  const webhooks = hooks
    ? startWebhooks({
        feed: runtime.events,
        urls: hooks.urls,
        secret: hooks.secret,
        retryFirstMs: Math.min(1_000, hooks.retryMaxMs),
        retryMaxMs: hooks.retryMaxMs,
        onResult: result => metrics?.webhook(result)
      })
    : undefined
  return { api, webhooks }
}
