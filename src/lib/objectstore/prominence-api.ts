/**
 * The PROMINENCE data API call that hands out an upload URL: `POST ${PROMINENCE_URL}/data/upload`
 * with a Bearer token and JSON `{"filename": NAME, "checksum": HEX}`; 201 with `{url, fields}` (a
 * presigned POST whose policy pins the checksum) or `{url}` (a presigned PUT, from servers or calls
 * without a checksum). Errors come as `{"error": "..."}` (401 bad token, 403 a group path the user
 * is not in, 400 no name). Source: https://github.com/prominence-eosc/prominence,
 * `prominence/data.py` and `prominence/backend/data_s3.py`.
 *
 * Messages name the API by origin only, never the token; anything the server says is scrubbed of it.
 */
import { AirlockError } from '../errors.js'
import { type HttpAnswer, send } from './prominence-http.js'

export interface UploadGrant {
  method: 'post' | 'put'
  url: URL
  /** The presigned POST's form fields, in the server's order (empty for a PUT). */
  fields: [string, string][]
}

export interface ApiTarget {
  /** PROMINENCE_URL, e.g. https://host/prominence/v1 */
  base: URL
  token: string
}

/** What the user may see of the API's address: scheme, host, path (no userinfo, no query). */
export function apiLabel(base: URL): string {
  return `${base.protocol}//${base.host}${base.pathname.replace(/\/+$/, '')}`
}

function serverSays(answer: HttpAnswer, token: string): string {
  let said = answer.text.trim()
  try {
    const doc = JSON.parse(said) as { error?: unknown; message?: unknown }
    if (typeof doc?.error === 'string') said = doc.error
    else if (typeof doc?.message === 'string') said = doc.message
  } catch {
    // not JSON: keep the text
  }
  said = said.replace(/\s+/g, ' ').slice(0, 300)
  return token ? said.split(token).join('***') : said
}

function parseGrant(answer: HttpAnswer, where: string): UploadGrant {
  let doc: { url?: unknown; fields?: unknown }
  try {
    doc = JSON.parse(answer.text) as typeof doc
  } catch {
    throw new AirlockError('REGISTRY_HTTP', `${where} answered ${answer.status} without a JSON body`, {
      hint: 'check that PROMINENCE_URL points at the PROMINENCE API (e.g. https://host/prominence/v1)',
    })
  }
  let url: URL | undefined
  try {
    if (typeof doc?.url === 'string') url = new URL(doc.url)
  } catch {
    url = undefined
  }
  if (!url || !/^https?:$/.test(url.protocol)) {
    throw new AirlockError('REGISTRY_HTTP', `${where} answered without a usable upload URL`)
  }
  if (doc.fields === undefined || doc.fields === null) return { method: 'put', url, fields: [] }
  if (typeof doc.fields !== 'object' || Array.isArray(doc.fields)) {
    throw new AirlockError('REGISTRY_HTTP', `${where} answered with form fields that are not an object`)
  }
  const fields = Object.entries(doc.fields as Record<string, unknown>).map(
    ([k, v]) => [k, String(v)] as [string, string],
  )
  return { method: 'post', url, fields }
}

/** Asks PROMINENCE for an upload URL for `name` with SHA-256 `checksum` (hex). */
export async function requestUpload(
  target: ApiTarget,
  name: string,
  checksum: string,
  signal?: AbortSignal,
): Promise<UploadGrant> {
  const where = `PROMINENCE at ${apiLabel(target.base)}`
  const endpoint = new URL(`${target.base.href.replace(/\/+$/, '')}/data/upload`)
  const body = Buffer.from(JSON.stringify({ filename: name, checksum }))
  let answer: HttpAnswer
  try {
    answer = await send(endpoint, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${target.token}`,
        'content-type': 'application/json',
        'content-length': body.length,
        accept: 'application/json',
      },
      body,
      signal,
      timeoutMs: 30_000,
    })
  } catch (err) {
    throw networkError(err, where, signal)
  }
  const said = serverSays(answer, target.token)
  switch (answer.status) {
    case 200:
    case 201:
      return parseGrant(answer, where)
    case 401:
      throw new AirlockError('AUTH_FAILED', `${where} rejected the token (401)`, {
        status: 401,
        hint: 'get a fresh PROMINENCE token (e.g. `prominence login`) and set PROMINENCE_TOKEN to it',
      })
    case 403:
      throw new AirlockError(
        'DENIED',
        `${where} refused the upload of "${name}" (403)${said ? `: ${said}` : ''}`,
        {
          status: 403,
          hint: 'a name with "/" must start with one of your groups; otherwise use a plain name',
        },
      )
    case 400:
      throw new AirlockError(
        'INVALID_INPUT',
        `${where} refused the request (400)${said ? `: ${said}` : ''}`,
        {
          status: 400,
        },
      )
    case 404:
    case 405:
      throw new AirlockError('INVALID_INPUT', `${where} has no data upload endpoint (${answer.status})`, {
        status: answer.status,
        hint: 'PROMINENCE_URL is the API base, e.g. https://host/prominence/v1',
      })
    default:
      throw new AirlockError(
        'REGISTRY_HTTP',
        `${where} answered ${answer.status} to the upload request${said ? `: ${said}` : ''}`,
        { status: answer.status, retryable: answer.status >= 500 || answer.status === 429 },
      )
  }
}

/** A failed connection or an abort, as an AirlockError naming only `where`. */
export function networkError(err: unknown, where: string, signal?: AbortSignal): AirlockError {
  if (err instanceof AirlockError) return err
  if (signal?.aborted || (err as Error)?.name === 'AbortError') {
    return new AirlockError('INTERRUPTED', `the upload to ${where} was interrupted`, { cause: err })
  }
  const code = (err as NodeJS.ErrnoException)?.code ?? ''
  if (code === 'EPIPE' || code === 'ECONNRESET') {
    return new AirlockError('UNREACHABLE', `${where} closed the connection during the request (${code})`, {
      cause: err,
      retryable: true,
      hint: 'a store may refuse an upload before reading all of it (size limit, expired URL); run it again to see its answer',
    })
  }
  const tls = /CERT|SSL|TLS/.test(code)
  return new AirlockError(
    tls ? 'TLS_FAILED' : 'UNREACHABLE',
    `cannot reach ${where}: ${code || (err as Error)?.message || String(err)}`,
    { cause: err, retryable: !tls },
  )
}
