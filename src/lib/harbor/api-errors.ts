/**
 * Harbor API error answers turned into AirlockErrors. Harbor answers errors as
 * `{"errors":[{"code":"NOT_FOUND","message":"…"}]}` with an `X-Request-Id` header, and 5xx bodies
 * say only "internal server error" (goharbor/harbor src/lib/http/error.go; error responses in
 * https://github.com/goharbor/harbor/blob/main/api/v2.0/swagger.yaml).
 *
 * Messages are built from the host, the operation and Harbor's own words, never from URLs or
 * credentials; a password that Harbor echoed anyway is masked.
 */
import { AirlockError, type ErrorCode } from '../errors.js'
import type { Credentials } from '../transports/registry/options.js'

export interface HarborErrorContext {
  /** Harbor host, e.g. `harbor.example.org`. */
  host: string
  /** What was asked, for messages: `create project "chem"`. */
  what: string
  /** Credentials used, if any (for the hint, and to mask the password). */
  creds?: Credentials
  /** Hint for a 403 on this operation. */
  forbiddenHint?: string
  /** Hint for a 404 on this operation. */
  notFoundHint?: string
}

/** Harbor's first error entry (`code: message`), or the start of a non-JSON body. */
export function harborDetail(body: string): { code?: string; text: string } {
  try {
    const doc = JSON.parse(body) as { errors?: Array<{ code?: string; message?: string }> }
    const e = doc.errors?.[0]
    if (e) return { code: e.code, text: [e.code, e.message].filter(Boolean).join(': ') }
  } catch {
    // not JSON: proxies and load balancers answer HTML or text
  }
  return { text: body.replace(/\s+/g, ' ').trim().slice(0, 200) }
}

function mask(text: string, creds?: Credentials): string {
  const secret = creds?.password
  return secret && secret.length >= 3 ? text.split(secret).join('***') : text
}

/** The AirlockError for a Harbor API answer with an unexpected status. */
export function harborError(
  status: number,
  body: string,
  ctx: HarborErrorContext,
  requestId?: string,
): AirlockError {
  const detail = harborDetail(body)
  const reqId = requestId ? `, request id ${requestId}` : ''
  const suffix = detail.text
    ? ` (${mask(detail.text, ctx.creds)}${reqId})`
    : reqId
      ? ` (${reqId.slice(2)})`
      : ''
  const who = ctx.creds ? `user "${ctx.creds.username}"` : 'anonymous access'
  const message =
    status === 403
      ? `${ctx.what} on Harbor ${ctx.host} is not allowed for ${who}: HTTP 403${suffix}`
      : `${ctx.what} on Harbor ${ctx.host} failed: HTTP ${status}${suffix}`
  let code: ErrorCode = 'REGISTRY_HTTP'
  let hint: string | undefined
  if (status === 401) {
    code = 'AUTH_FAILED'
    hint = ctx.creds
      ? `Harbor refused user "${ctx.creds.username}": check the password or run airlock login ${ctx.host} again; for unattended runs use a robot account (robot$<project>+<name>) and its secret`
      : `log in first: airlock login ${ctx.host} (a robot account, robot$<project>+<name>, works too)`
  } else if (status === 403) {
    code = 'AUTH_FAILED'
    hint =
      ctx.forbiddenHint ??
      `${who} lacks the role for this; ask a Harbor or project admin, or use a robot account with the needed permissions`
  } else if (status === 404) {
    code = 'NOT_FOUND'
    hint = ctx.notFoundHint ?? 'check the Harbor URL (no path after the host) and the project name'
  } else if (status === 400 || status === 422) {
    code = 'INVALID_INPUT'
  } else if (status >= 500 || status === 429) {
    hint = 'Harbor had a problem of its own; try again later, or ask its admins to look at the core logs'
  }
  return new AirlockError(code, message, { status, hint, retryable: status >= 500 || status === 429 })
}
