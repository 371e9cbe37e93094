/**
 * One Harbor API v2.0 exchange: `/api/v2.0` + path on the Harbor host, HTTP basic auth (the API's
 * security definition), JSON bodies, retries of GET and HEAD on 5xx, 429 and broken connections
 * (bodies included), and error answers turned into AirlockErrors.
 *
 * It rides on the registry transport's HostHttp (keep-alive agents, TLS verification, certs.d CAs,
 * https first with plain http only on loopback or with TLS verification off). No cookies are sent,
 * so Harbor's CSRF check does not apply (it guards cookie sessions only).
 */
import { findCredentials } from '../auth/auth-files.js'
import { AirlockError } from '../errors.js'
import { bodyReadError, isTransientError, RetryPolicy, TryAgain, withRetries } from '../http/retry.js'
import { notifyRequest } from '../transports/registry/client.js'
import { HostHttp, type HttpRequest, type HttpResponse, isLoopbackHost } from '../transports/registry/http.js'
import type { Credentials, RegistryOptions } from '../transports/registry/options.js'
import { harborError } from './api-errors.js'
import { harborHost } from './project-name.js'

export const API_BASE = '/api/v2.0'

/** An API answer, read whole. */
export interface HarborAnswer {
  status: number
  headers: Record<string, string>
  bytes: Buffer
  text(): string
  json(): unknown
}

function answer(res: HttpResponse, bytes: Buffer): HarborAnswer {
  return {
    status: res.status,
    headers: res.headers,
    bytes,
    text: () => bytes.toString('utf8'),
    json: () => JSON.parse(bytes.toString('utf8')),
  }
}

export interface ApiCall {
  method: HttpRequest['method']
  /** Below /api/v2.0, with its query: `/projects?project_name=chem`. */
  path: string
  /** What is asked, for messages: `create project "chem"`. */
  what: string
  /** Statuses returned to the caller; any other becomes an AirlockError. */
  expect: number[]
  /** Sent as JSON. */
  body?: unknown
  headers?: Record<string, string>
  forbiddenHint?: string
  notFoundHint?: string
}

export class HarborApi {
  /** `harbor.example.org` or `127.0.0.1:8080`: where credentials are looked up. */
  readonly host: string
  /** `scheme://host` when the URL named a scheme; else HostHttp picks (https first). */
  private readonly origin: string | undefined
  private readonly http: HostHttp
  private credsPromise: Promise<Credentials | undefined> | undefined

  constructor(
    url: string,
    private readonly options: RegistryOptions,
    private readonly explicitCreds?: Credentials,
  ) {
    const given = url.trim()
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(given)?.[1]?.toLowerCase()
    if (scheme && scheme !== 'https' && scheme !== 'http') {
      throw new AirlockError('INVALID_INPUT', `"${given}" is not an http(s) URL of Harbor`, {
        hint: 'give the Harbor URL as https://harbor.example.org',
      })
    }
    this.host = harborHost(given)
    const insecure = (options.insecureRegistries ?? []).includes(this.host)
    if (scheme === 'http' && options.tlsVerify !== false && !insecure && !isLoopbackHost(this.host)) {
      throw new AirlockError('INVALID_INPUT', `refusing plain http to Harbor ${this.host}`, {
        hint: 'use https://, or pass --tls-verify=false if this network is trusted (the password travels in clear)',
      })
    }
    this.origin = scheme ? `${scheme}://${this.host}` : undefined
    this.http = new HostHttp(this.host, options)
  }

  /** Explicit credentials, else those `airlock login <harbor host>` stored (auth files, helpers). */
  credentials(): Promise<Credentials | undefined> {
    const explicit = this.explicitCreds ?? this.options.creds
    this.credsPromise ??= explicit
      ? Promise.resolve(explicit)
      : findCredentials(this.host, undefined, { env: this.options.env, authfile: this.options.authfile })
    return this.credsPromise
  }

  async call(spec: ApiCall): Promise<HarborAnswer> {
    const creds = await this.credentials()
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': 'airlock',
      ...spec.headers,
    }
    if (creds) {
      const basic = Buffer.from(`${creds.username}:${creds.password}`).toString('base64')
      headers.authorization = `Basic ${basic}`
    }
    let body: string | undefined
    if (spec.body !== undefined) {
      body = JSON.stringify(spec.body)
      headers['content-type'] = 'application/json'
    }
    const url = `${this.origin ?? ''}${API_BASE}${spec.path}`
    // The one retry policy (src/lib/http/retry.ts), for requests that change nothing (GET, HEAD);
    // the answer is read whole inside each attempt, so a body cut short is tried again too.
    const policy = new RetryPolicy(
      spec.method === 'GET' || spec.method === 'HEAD' ? this.options : { ...this.options, retries: 0 },
    )
    return withRetries(policy, undefined, async () => {
      let res: HttpResponse
      try {
        res = await this.http.send({ method: spec.method, url, headers, body })
      } catch (err) {
        const e = this.unreachable(err)
        throw isTransientError(e) ? new TryAgain(e) : e
      }
      const path = `${API_BASE}${spec.path.split('?')[0]}`
      this.options.onRequest?.({ method: spec.method, host: this.host, path, status: res.status })
      notifyRequest({ method: spec.method, host: this.host, path, status: res.status })
      let bytes: Buffer
      try {
        bytes = spec.method === 'HEAD' ? Buffer.alloc(0) : Buffer.from(await res.body.arrayBuffer())
        await res.body.dump()
      } catch (err) {
        const e = bodyReadError(err, this.host, `the answer to ${spec.what}`)
        throw isTransientError(e) ? new TryAgain(e) : e
      }
      if (spec.expect.includes(res.status)) return answer(res, bytes)
      const { what, forbiddenHint, notFoundHint } = spec
      const context = { host: this.host, what, creds, forbiddenHint, notFoundHint }
      const error = harborError(res.status, bytes.toString('utf8'), context, res.headers['x-request-id'])
      throw error.retryable ? new TryAgain(error, res.headers['retry-after']) : error
    })
  }

  /** HostHttp speaks of "registry"; say Harbor API, keep the network code, never the URL. */
  private unreachable(err: unknown): unknown {
    if (!(err instanceof AirlockError) || err.code !== 'UNREACHABLE') return err
    const cause = err.cause as { code?: string; cause?: { code?: string } } | undefined
    const code = cause?.code ?? cause?.cause?.code
    return new AirlockError(
      'UNREACHABLE',
      `cannot reach the Harbor API on ${this.host}${code ? ` (${code})` : ''}`,
      {
        cause: err,
        retryable: err.retryable,
        hint: 'check the Harbor URL (e.g. https://harbor.example.org, no path) and that this machine can reach it: DNS, routes, firewalls',
      },
    )
  }
}
