/**
 * Registry authentication: the `WWW-Authenticate` challenge of the distribution spec
 * (docs/spec/auth/token.md): anonymous, Basic, or Bearer tokens from a realm, requested per scope
 * (`repository:<name>:pull,push`) with Basic credentials when we have them, cached per scope set
 * until shortly before they expire, and dropped and fetched again on a 401.
 */
import { AirlockError } from '../../errors.js'
import {
  bodyReadError,
  isTransientError,
  isTransientStatus,
  type RetryPolicy,
  TryAgain,
  withRetries,
} from '../../http/retry.js'
import type { HostHttp, HttpResponse } from './http.js'
import type { Credentials } from './options.js'

export interface Challenge {
  scheme: 'basic' | 'bearer'
  params: Record<string, string>
}

const CHALLENGE_SCHEME = /\s*(?:,\s*)?([A-Za-z0-9!#$%&'*+.^_`|~-]+)(?=\s|,|$)/y
const CHALLENGE_PARAM = /\s*(?:,\s*)?([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/y

/**
 * Parses `Bearer realm="https://x/token",service="reg",scope="repository:a:pull"` (RFC 7235).
 * A header may hold several challenges (and http.ts joins repeated headers with ", "): each one's
 * params stay its own, and the first Basic or Bearer challenge is returned.
 */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined
  let at = 0
  while (at < header.length) {
    CHALLENGE_SCHEME.lastIndex = at
    const s = CHALLENGE_SCHEME.exec(header)
    if (!s) return undefined
    at = CHALLENGE_SCHEME.lastIndex
    const params: Record<string, string> = {}
    for (;;) {
      CHALLENGE_PARAM.lastIndex = at
      const p = CHALLENGE_PARAM.exec(header)
      if (!p) break
      params[p[1].toLowerCase()] = (p[2] ?? p[3]).replace(/\\(.)/g, '$1')
      at = CHALLENGE_PARAM.lastIndex
    }
    const scheme = s[1].toLowerCase()
    if (scheme === 'basic' || scheme === 'bearer') return { scheme, params }
  }
  return undefined
}

interface CachedToken {
  token: string
  expiresAt: number
}

export class RegistryAuth {
  private challenge: Challenge | undefined
  private readonly tokens = new Map<string, CachedToken>()
  private readonly pending = new Map<string, Promise<string>>()

  constructor(
    private readonly http: HostHttp,
    private readonly policy: RetryPolicy,
    private readonly creds: () => Promise<Credentials | undefined>,
    private readonly loginHint: () => string,
  ) {}

  get knownScheme(): Challenge['scheme'] | undefined {
    return this.challenge?.scheme
  }

  /** Remembers the challenge of a 401 answer. */
  learn(header: string | undefined): void {
    const c = parseChallenge(header)
    if (c) this.challenge = c
  }

  /** Authorization header for a request needing `scopes`, or undefined for anonymous. */
  async header(scopes: string[], signal?: AbortSignal): Promise<string | undefined> {
    const c = this.challenge
    if (!c) return undefined
    if (c.scheme === 'basic') {
      const creds = await this.creds()
      return creds
        ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`
        : undefined
    }
    const key = [...scopes].sort().join(' ')
    const cached = this.tokens.get(key)
    if (cached && cached.expiresAt > Date.now()) return `Bearer ${cached.token}`
    let p = this.pending.get(key)
    if (!p) {
      // Shared by every request waiting for these scopes (images of one repository in a mirror
      // run): it runs without any one request's signal, and each waiter stops on its own.
      p = this.fetchToken(c, scopes).finally(() => this.pending.delete(key))
      p.catch(() => undefined)
      this.pending.set(key, p)
    }
    return `Bearer ${await untilAborted(p, signal)}`
  }

  /** Forgets the token for these scopes (after a 401 with it). */
  invalidate(scopes: string[]): void {
    this.tokens.delete([...scopes].sort().join(' '))
  }

  /**
   * GET realm?service=…&scope=… (docs/spec/auth/token.md), with the retry policy: a 5xx or 429
   * (honouring Retry-After) or a connection broken before or inside the body is tried again.
   */
  private async fetchToken(c: Challenge, scopes: string[]): Promise<string> {
    const realm = c.params.realm
    if (!realm)
      throw new AirlockError('AUTH_FAILED', `${this.http.host} asked for a bearer token without a realm`)
    const url = new URL(realm)
    if (c.params.service) url.searchParams.set('service', c.params.service)
    for (const s of scopes) url.searchParams.append('scope', s)
    const creds = await this.creds()
    const headers: Record<string, string> = { accept: 'application/json' }
    if (creds)
      headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`
    const what = `a token from ${url.host}`
    const { res, text } = await withRetries(this.policy, undefined, async () => {
      let res: HttpResponse
      try {
        res = await this.http.send({ method: 'GET', url: url.toString(), headers })
      } catch (err) {
        throw isTransientError(err) ? new TryAgain(err) : err
      }
      if (isTransientStatus(res.status)) {
        await res.body.dump()
        const err = new AirlockError('REGISTRY_HTTP', `token service ${url.host} answered ${res.status}`, {
          status: res.status,
          retryable: true,
          hint: 'the token service is overloaded or failing; try again later',
        })
        throw new TryAgain(err, res.headers['retry-after'])
      }
      try {
        return { res, text: await res.body.text() }
      } catch (err) {
        const e = bodyReadError(err, url.host, what)
        throw e.retryable ? new TryAgain(e) : e
      }
    })
    if (res.status === 401 || res.status === 403) {
      throw new AirlockError(
        'AUTH_FAILED',
        creds
          ? `${this.http.host} refused the credentials of user "${creds.username}" (token service ${url.host} answered ${res.status})`
          : `${this.http.host} requires credentials (token service ${url.host} answered ${res.status})`,
        { hint: this.loginHint(), status: res.status },
      )
    }
    if (res.status >= 400) {
      throw new AirlockError('REGISTRY_HTTP', `token service ${url.host} answered ${res.status}`, {
        status: res.status,
        retryable: res.status >= 500 || res.status === 429,
      })
    }
    let doc: { token?: string; access_token?: string; expires_in?: number; issued_at?: string }
    try {
      doc = JSON.parse(text)
    } catch {
      throw new AirlockError(
        'REGISTRY_HTTP',
        `token service ${url.host} answered with something that is not JSON`,
      )
    }
    const token = doc.token ?? doc.access_token
    if (!token) throw new AirlockError('REGISTRY_HTTP', `token service ${url.host} answered without a token`)
    // The spec's default lifetime is 60 s; refresh 10 s early.
    const lifetime = Math.max(10, doc.expires_in ?? 60)
    this.tokens.set([...scopes].sort().join(' '), { token, expiresAt: Date.now() + (lifetime - 10) * 1000 })
    return token
  }
}

/** `p`, or the abort reason as soon as `signal` aborts. */
async function untilAborted<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p
  signal.throwIfAborted()
  let onAbort: (() => void) | undefined
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        onAbort = () => reject(signal.reason)
        signal.addEventListener('abort', onAbort, { once: true })
      }),
    ])
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort)
  }
}
