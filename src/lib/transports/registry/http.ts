/**
 * One HTTP exchange with a registry host: scheme selection (HTTPS, with plain HTTP only where
 * allowed), TLS settings, redirects, and turning network failures into AirlockErrors.
 * Authentication and retries are the client's job (client.ts).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { rootCertificates } from 'node:tls'
import { AirlockError } from '../../errors.js'
import { trackPool } from './agent-pool.js'
import { makeAgent, nodeRequest, type PoolAgent, type ResponseBody } from './node-request.js'
import type { RegistryOptions } from './options.js'

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE'
  /** Path and query ("/v2/...") or an absolute URL (upload locations, token realms). */
  url: string
  headers?: Record<string, string>
  body?: Buffer | Readable | string
  signal?: AbortSignal
  /** Follow redirects (blob GETs often redirect to object storage). */
  followRedirects?: boolean
}

export interface HttpResponse {
  status: number
  headers: Record<string, string>
  url: string
  body: ResponseBody
}

const TLS_ERROR_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_NOT_YET_VALID',
])
const NOT_TLS_CODES = new Set(['EPROTO', 'ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG'])
const RETRYABLE_NET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'EAI_AGAIN'])

export function isLoopbackHost(host: string): boolean {
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '')
  return name === 'localhost' || name === '::1' || /^127\.\d+\.\d+\.\d+$/.test(name)
}

const agents = new Map<string, PoolAgent>()

function extraCAs(host: string, dirs: string[]): string[] {
  const found: string[] = []
  for (const dir of dirs) {
    const hostDir = join(dir, host)
    if (!existsSync(hostDir)) continue
    for (const f of readdirSync(hostDir))
      if (f.endsWith('.crt')) found.push(readFileSync(join(hostDir, f), 'utf8'))
  }
  return found
}

function agentFor(protocol: string, host: string, verify: boolean, certDirs: string[]): PoolAgent {
  const key = `${protocol}//${host}|${verify}|${certDirs.join(':')}`
  let agent = agents.get(key)
  if (!agent) {
    const cas = verify && protocol === 'https:' ? extraCAs(host, certDirs) : []
    const created = makeAgent(protocol, {
      rejectUnauthorized: verify,
      ...(cas.length ? { ca: [...rootCertificates, ...cas] } : {}),
    })
    agent = created
    agents.set(key, created)
    trackPool({
      close: async () => {
        agents.delete(key)
        created.destroy()
      },
    })
  }
  return agent
}

/** Base URL per host, decided once per process (https first, http only where allowed). */
const schemes = new Map<string, 'https' | 'http'>()

export class HostHttp {
  readonly host: string
  private readonly verify: boolean
  private readonly allowHttp: boolean
  private readonly certDirs: string[]

  constructor(host: string, options: RegistryOptions) {
    this.host = host
    const insecure = (options.insecureRegistries ?? []).includes(host)
    this.verify = options.tlsVerify !== false && !insecure
    this.allowHttp = !this.verify || isLoopbackHost(host)
    this.certDirs = options.certDirs ?? ['/etc/containers/certs.d', '/etc/docker/certs.d']
  }

  private get schemeKey(): string {
    return `${this.host}|${this.verify}`
  }

  async base(): Promise<string> {
    const known = schemes.get(this.schemeKey)
    if (known) return `${known}://${this.host}`
    return `https://${this.host}`
  }

  async send(req: HttpRequest): Promise<HttpResponse> {
    let url = req.url.startsWith('http') ? req.url : `${await this.base()}${req.url}`
    for (let hop = 0; ; hop++) {
      const res = await this.sendOnce(url, req)
      if (req.followRedirects && [301, 302, 303, 307, 308].includes(res.status) && hop < 5) {
        const location = res.headers.location
        await res.body.dump()
        if (!location) throw new AirlockError('REGISTRY_HTTP', `${this.host} redirected without a Location`)
        const next = new URL(location, url)
        // Credentials are for the registry only, never for the storage it redirects to.
        if (next.host !== new URL(url).host && req.headers?.authorization) {
          const { authorization: _drop, ...rest } = req.headers
          req = { ...req, headers: rest }
        }
        url = next.toString()
        continue
      }
      return res
    }
  }

  private async sendOnce(url: string, req: HttpRequest): Promise<HttpResponse> {
    const target = new URL(url)
    const sameHost = target.host === this.host || target.host === this.host.replace(/^\[|\]/g, '')
    const verify = sameHost ? this.verify : true
    try {
      const res = await nodeRequest(url, {
        method: req.method,
        headers: req.headers,
        body: req.body,
        signal: req.signal,
        agent: agentFor(target.protocol, target.host, verify, this.certDirs),
      })
      if (sameHost && target.protocol === 'https:' && !schemes.has(this.schemeKey))
        schemes.set(this.schemeKey, 'https')
      return { status: res.statusCode, headers: flatten(res.headers), url, body: res.body }
    } catch (err) {
      const code = (err as { code?: string }).code ?? ''
      const causeCode = ((err as { cause?: { code?: string } }).cause?.code ?? '') as string
      const anyCode = code || causeCode
      // An https attempt at a plain-HTTP server: fall back to http where allowed.
      if (
        sameHost &&
        target.protocol === 'https:' &&
        this.allowHttp &&
        // Unknown yet, or learned as http by a request that raced this one.
        schemes.get(this.schemeKey) !== 'https' &&
        !(req.body && typeof req.body !== 'string' && !Buffer.isBuffer(req.body)) &&
        (NOT_TLS_CODES.has(anyCode) || /wrong version number|packet length too long/i.test(String(err)))
      ) {
        schemes.set(this.schemeKey, 'http')
        target.protocol = 'http:'
        return this.sendOnce(target.toString(), req)
      }
      throw networkError(err, anyCode, target, this.host, req.signal)
    }
  }
}

function flatten(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers))
    if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v
  return out
}

function networkError(
  err: unknown,
  code: string,
  target: URL,
  host: string,
  signal?: AbortSignal,
): AirlockError {
  const where = target.host === host ? host : `${target.host} (redirected from ${host})`
  if (signal?.aborted)
    return new AirlockError('INTERRUPTED', `request to ${where} was interrupted`, { cause: err })
  if (TLS_ERROR_CODES.has(code) || /certificate/i.test(String(err))) {
    return new AirlockError(
      'TLS_FAILED',
      `TLS certificate of ${where} could not be verified (${code || 'TLS error'})`,
      {
        cause: err,
        hint: `put the registry's CA in /etc/containers/certs.d/${host}/ca.crt, or pass --tls-verify=false if you trust this network`,
      },
    )
  }
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') {
    return new AirlockError('UNREACHABLE', `cannot reach registry ${where} (${code})`, {
      cause: err,
      hint: 'check the registry host and port, and that it is running and reachable from here',
    })
  }
  return new AirlockError(
    'UNREACHABLE',
    `connection to ${where} failed (${code || (err as Error).message})`,
    {
      cause: err,
      retryable: RETRYABLE_NET_CODES.has(code) || code === '',
      hint: 'the connection broke; try again, or check the network between here and the registry',
    },
  )
}
