/**
 * One HTTP exchange with a registry host: scheme selection (HTTPS, with plain HTTP only where
 * allowed), TLS settings, redirects, and turning network failures into AirlockErrors.
 * Authentication and retries are the client's job (client.ts).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
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

/** TLS material for one host: extra CAs, and a client certificate with its key. */
interface TlsMaterial {
  ca: string[]
  cert?: string
  key?: string
}

/**
 * The per-host directories searched when no `--cert-dir` is given, in containers-certs.d(5)
 * order: `$HOME/.config/containers/certs.d` (rootless users), `/etc/containers/certs.d`,
 * `/etc/docker/certs.d`. As containers/image does, the first `<root>/<host[:port]>` directory that
 * exists is the one used.
 */
export function defaultCertRoots(env: NodeJS.ProcessEnv = process.env): string[] {
  const home = env.HOME || homedir()
  return [join(home, '.config/containers/certs.d'), '/etc/containers/certs.d', '/etc/docker/certs.d']
}

/**
 * Reads one certificate directory as containers-certs.d(5) describes it: every `*.crt` is a CA
 * added to the system roots; every `*.cert` is a client certificate whose key is the `*.key` of
 * the same name (a lone `.cert` or `.key` is an error, as in skopeo).
 */
export function readCertDir(dir: string): TlsMaterial {
  const material: TlsMaterial = { ca: [] }
  let names: string[]
  try {
    names = readdirSync(dir).sort()
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return material
    throw new AirlockError(
      'INVALID_INPUT',
      `cannot read certificate directory ${dir}: ${(err as Error).message}`,
      {
        cause: err,
        hint: 'check the directory given with --cert-dir (or under certs.d) and its permissions',
      },
    )
  }
  const read = (f: string) => readFileSync(join(dir, f), 'utf8')
  for (const f of names) {
    if (f.endsWith('.crt')) material.ca.push(read(f))
    else if (f.endsWith('.cert')) {
      const keyName = `${f.slice(0, -'.cert'.length)}.key`
      if (!names.includes(keyName))
        throw new AirlockError('INVALID_INPUT', `client certificate ${join(dir, f)} has no key ${keyName}`, {
          hint: `put the certificate's private key next to it as ${join(dir, keyName)} (containers-certs.d(5))`,
        })
      material.cert = read(f)
      material.key = read(keyName)
    } else if (f.endsWith('.key')) {
      const certName = `${f.slice(0, -'.key'.length)}.cert`
      if (!names.includes(certName))
        throw new AirlockError('INVALID_INPUT', `key ${join(dir, f)} has no client certificate ${certName}`, {
          hint: `put the client certificate next to it as ${join(dir, certName)} (containers-certs.d(5))`,
        })
    }
  }
  return material
}

/** Where the TLS material of `host` comes from: `--cert-dir` itself, or the first `<root>/<host>`. */
function certDirFor(host: string, certDir: string | undefined, roots: string[]): string | undefined {
  if (certDir) return certDir
  for (const root of roots) {
    const hostDir = join(root, host)
    if (existsSync(hostDir)) return hostDir
  }
  return undefined
}

function agentFor(protocol: string, host: string, verify: boolean, dir: string | undefined): PoolAgent {
  const key = `${protocol}//${host}|${verify}|${dir ?? ''}`
  let agent = agents.get(key)
  if (!agent) {
    const tls = protocol === 'https:' && dir ? readCertDir(dir) : { ca: [] }
    const cas = verify ? tls.ca : []
    const created = makeAgent(protocol, {
      rejectUnauthorized: verify,
      ...(cas.length ? { ca: [...rootCertificates, ...cas] } : {}),
      ...(tls.cert && tls.key ? { cert: tls.cert, key: tls.key } : {}),
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
  private readonly certDir: string | undefined
  private readonly certRoots: string[]

  constructor(host: string, options: RegistryOptions) {
    this.host = host
    const insecure = (options.insecureRegistries ?? []).includes(host)
    this.verify = options.tlsVerify !== false && !insecure
    this.allowHttp = !this.verify || isLoopbackHost(host)
    // `--cert-dir DIR` replaces the per-host search: DIR holds ca.crt, client.cert, client.key
    // directly, as skopeo's --cert-dir does (containers-certs.d(5)).
    this.certDir = options.certDir
    this.certRoots = options.certDirs ?? defaultCertRoots(options.env)
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
    // Outside the try: a bad certificate directory is the user's input, not a network failure.
    const agent = agentFor(
      target.protocol,
      target.host,
      verify,
      certDirFor(target.host, this.certDir, this.certRoots),
    )
    try {
      const res = await nodeRequest(url, {
        method: req.method,
        headers: req.headers,
        body: req.body,
        signal: req.signal,
        agent,
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
        // containers-certs.d(5): rootless users read $HOME/.config/containers/certs.d first.
        hint:
          `put the registry's CA in ~/.config/containers/certs.d/${target.host}/ca.crt (or, as root, ` +
          `/etc/containers/certs.d/${target.host}/ca.crt), or pass --cert-dir DIR with DIR/ca.crt; ` +
          '--tls-verify=false only if you trust this network',
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
