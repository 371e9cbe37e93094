/**
 * A client for one registry host, speaking the OCI distribution spec (spec.md: pull, push, content
 * discovery). Every request goes through `request`, which adds authentication, retries 5xx, 429
 * (honouring Retry-After) and broken connections with backoff when the body can be sent again, and
 * turns error answers into AirlockErrors that name the registry and what was asked.
 */
import type { Readable } from 'node:stream'
import { findCredentials } from '../../auth/auth-files.js'
import { AirlockError, type ErrorCode } from '../../errors.js'
import {
  bodyReadError,
  isTransientError,
  isTransientStatus,
  RetryPolicy,
  TryAgain,
  withRetries,
} from '../../http/retry.js'
import { MANIFEST_ACCEPT, normalizeContentType } from '../../manifest.js'
import { registryHost } from '../../reference.js'
import { RegistryAuth } from './auth.js'
import { HostHttp, type HttpRequest, type HttpResponse } from './http.js'
import type { Credentials, RegistryOptions } from './options.js'

type RequestInfo = Parameters<NonNullable<RegistryOptions['onRequest']>>[0]
const requestObservers = new Set<(info: RequestInfo) => void>()

/**
 * Observe every registry and Harbor API request of this process, whatever options built its
 * client (`--debug` prints them; src/ui/base-command.ts). Returns the function that stops it.
 */
export function observeRequests(fn: (info: RequestInfo) => void): () => void {
  requestObservers.add(fn)
  return () => requestObservers.delete(fn)
}

/** Tell the process-wide observers about one answered request. */
export function notifyRequest(info: RequestInfo): void {
  for (const fn of requestObservers) fn(info)
}

export interface RequestSpec {
  method: HttpRequest['method']
  url: string
  scopes: string[]
  headers?: Record<string, string>
  body?: Buffer | Readable
  /** Statuses that are success for this request; anything else is an error. */
  expect: number[]
  /** What is being asked, for messages: `manifest alpine:3.19`. */
  what: string
  followRedirects?: boolean
  signal?: AbortSignal
}

export const pullScope = (repo: string) => `repository:${repo}:pull`
export const pushScope = (repo: string) => `repository:${repo}:pull,push`

export class RegistryClient {
  readonly registry: string
  readonly host: string
  private readonly http: HostHttp
  private readonly auth: RegistryAuth
  private readonly policy: RetryPolicy
  private credsPromise: Promise<Credentials | undefined> | undefined

  constructor(
    registry: string,
    private readonly options: RegistryOptions = {},
    private readonly credsRepository?: string,
  ) {
    this.registry = registry
    this.host = registryHost(registry)
    this.http = new HostHttp(this.host, options)
    this.policy = new RetryPolicy(options)
    this.auth = new RegistryAuth(
      this.http,
      this.policy,
      () => this.credentials(),
      () => this.loginHint(),
    )
  }

  credentials(): Promise<Credentials | undefined> {
    this.credsPromise ??= this.options.creds
      ? Promise.resolve(this.options.creds)
      : findCredentials(this.registry, this.credsRepository, {
          env: this.options.env,
          authfile: this.options.authfile,
        })
    return this.credsPromise
  }

  /** How to log in to this registry, with the right flag for the command at hand. */
  loginHint(): string {
    return loginHintFor(this.registry, this.options.credsFlag)
  }

  /** GET /v2/: checks the registry answers the distribution API and learns its auth challenge. */
  async ping(signal?: AbortSignal): Promise<void> {
    const res = await this.request({
      method: 'GET',
      url: '/v2/',
      scopes: [],
      expect: [200],
      what: 'API version check',
      signal,
    })
    await res.body.dump()
  }

  /**
   * One request with auth and the retry policy (src/lib/http/retry.ts). The response body is handed
   * on as a stream: a failure after the headers is the caller's to handle. Use `fetch` for a body
   * that must be read whole, so that a connection broken in the middle of it is retried too.
   */
  async request(spec: RequestSpec): Promise<HttpResponse> {
    return (await this.exchange(spec, false)).res
  }

  /** As `request`, with the whole body read inside each attempt (manifests, tag lists). */
  async fetch(spec: RequestSpec): Promise<HttpResponse & { bytes: Buffer }> {
    const { res, bytes } = await this.exchange(spec, true)
    return { ...res, bytes: bytes ?? Buffer.alloc(0) }
  }

  private async exchange(spec: RequestSpec, buffer: boolean): Promise<{ res: HttpResponse; bytes?: Buffer }> {
    const replayable = spec.body === undefined || Buffer.isBuffer(spec.body)
    let reauthed = false
    return withRetries(this.policy, spec.signal, async () => {
      const authorization = await this.auth.header(spec.scopes, spec.signal)
      const headers = {
        'user-agent': 'airlock',
        ...spec.headers,
        ...(authorization ? { authorization } : {}),
      }
      let res: HttpResponse
      const release = await this.options.throttle?.(this.host, spec.signal)
      try {
        res = await this.http.send({ ...spec, headers })
      } catch (err) {
        release?.()
        throw isTransientError(err) && replayable ? new TryAgain(err) : err
      }
      release?.()
      const path = spec.url.startsWith('http') ? new URL(spec.url).pathname : spec.url.split('?')[0]
      const remaining = res.headers['ratelimit-remaining']
      const info = {
        method: spec.method,
        host: this.host,
        path,
        status: res.status,
        ...(typeof remaining === 'string' ? { rateLimitRemaining: remaining } : {}),
      }
      this.options.onRequest?.(info)
      notifyRequest(info)
      if (res.status === 401 && !reauthed && replayable) {
        await res.body.dump()
        reauthed = true
        this.auth.learn(res.headers['www-authenticate'])
        this.auth.invalidate(spec.scopes)
        if (!this.auth.knownScheme) break401(this.host, spec.what)
        throw new TryAgain(undefined, undefined, true)
      }
      if (isTransientStatus(res.status) && replayable) {
        throw new TryAgain(await this.errorFrom(res, spec), res.headers['retry-after'])
      }
      if (!spec.expect.includes(res.status)) throw await this.errorFrom(res, spec)
      if (!buffer) return { res }
      try {
        return { res, bytes: Buffer.from(await res.body.arrayBuffer()) }
      } catch (err) {
        const e = bodyReadError(err, this.host, spec.what, spec.signal)
        throw e.retryable && replayable ? new TryAgain(e) : e
      }
    })
  }

  private async errorFrom(res: HttpResponse, spec: RequestSpec): Promise<AirlockError> {
    const text = spec.method === 'HEAD' ? '' : await res.body.text().catch(() => '')
    if (spec.method === 'HEAD') await res.body.dump().catch(() => undefined)
    let detail = ''
    let regCode = ''
    try {
      const doc = JSON.parse(text) as {
        errors?: Array<{ code?: string; message?: string; detail?: unknown }>
      }
      const e = doc.errors?.[0]
      if (e) {
        regCode = e.code ?? ''
        detail = [e.code, e.message].filter(Boolean).join(': ')
      }
    } catch {
      detail = text.slice(0, 200).trim()
    }
    const where = `${spec.what} on ${this.host}`
    const suffix = detail ? ` (${detail})` : ''
    let code: ErrorCode = 'REGISTRY_HTTP'
    let hint: string | undefined
    const creds = res.status === 401 ? await this.credentials() : undefined
    if (res.status === 401 && !creds) {
      // Anonymous: a token registry answers insufficient_scope to an anonymous token too.
      code = 'AUTH_FAILED'
      hint = `${this.host} does not allow this anonymously: ${this.loginHint()}`
    } else if (res.status === 401 && /insufficient_scope/.test(res.headers['www-authenticate'] ?? '')) {
      code = 'DENIED'
      hint = `user "${creds?.username}" is known but lacks permission for this repository (push needs write access; a robot account is limited to its own project)`
    } else if (res.status === 401) {
      code = 'AUTH_FAILED'
      hint = `the registry refused user "${creds?.username}"; check the password or token, or run airlock login ${this.registry}. Harbor also answers 401 when the project (the first part of the repository path) does not exist: check its name, or create it`
    } else if (res.status === 403 && /quota|upper limit/i.test(detail)) {
      code = 'QUOTA_EXCEEDED'
      hint =
        'the project is over its storage quota; delete old artifacts or ask the registry admin to raise the limit'
    } else if (res.status === 403) {
      code = 'DENIED'
      hint = 'the credentials are valid but lack permission for this repository (push needs write access)'
    } else if (res.status === 404 || regCode.endsWith('_UNKNOWN')) {
      code = 'NOT_FOUND'
      hint = 'check the repository name and tag; `airlock tags REPO` lists the tags'
    }
    return new AirlockError(code, `${where} failed: HTTP ${res.status}${suffix}`, {
      status: res.status,
      hint,
      retryable: res.status === 429 || res.status >= 500,
    })
  }

  async getManifest(
    repo: string,
    ref: string,
    signal?: AbortSignal,
  ): Promise<{ bytes: Buffer; mediaType: string; digest?: string }> {
    const res = await this.fetch({
      method: 'GET',
      url: `/v2/${repo}/manifests/${ref}`,
      scopes: [pullScope(repo)],
      headers: { accept: MANIFEST_ACCEPT.join(', ') },
      expect: [200],
      what: `manifest ${repo}${ref.includes(':') ? '@' : ':'}${ref}`,
      signal,
    })
    const bytes = res.bytes
    return {
      bytes,
      mediaType: normalizeContentType(res.headers['content-type']) ?? '',
      digest: res.headers['docker-content-digest'],
    }
  }

  /** The digest a tag or digest resolves to, or undefined if absent. HEAD does not count as a Docker Hub pull. */
  async headManifest(
    repo: string,
    ref: string,
    signal?: AbortSignal,
  ): Promise<{ digest?: string; mediaType?: string } | undefined> {
    const res = await this.request({
      method: 'HEAD',
      url: `/v2/${repo}/manifests/${ref}`,
      scopes: [pullScope(repo)],
      headers: { accept: MANIFEST_ACCEPT.join(', ') },
      expect: [200, 404],
      what: `manifest ${repo}:${ref}`,
      signal,
    })
    await res.body.dump()
    if (res.status === 404) return undefined
    return {
      digest: res.headers['docker-content-digest'],
      mediaType: normalizeContentType(res.headers['content-type']),
    }
  }

  async putManifest(
    repo: string,
    ref: string,
    bytes: Buffer,
    mediaType: string,
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    const res = await this.request({
      method: 'PUT',
      url: `/v2/${repo}/manifests/${ref}`,
      scopes: [pushScope(repo)],
      headers: { 'content-type': mediaType, 'content-length': String(bytes.length) },
      body: bytes,
      expect: [201, 200, 202],
      what: `writing manifest ${repo}${ref.includes(':') ? '@' : ':'}${ref}`,
      signal,
    })
    await res.body.dump()
    return res.headers['docker-content-digest']
  }

  async deleteManifest(repo: string, digest: string, signal?: AbortSignal): Promise<void> {
    const res = await this.request({
      method: 'DELETE',
      url: `/v2/${repo}/manifests/${digest}`,
      scopes: [`repository:${repo}:delete`, pushScope(repo)],
      expect: [202, 200],
      what: `deleting manifest ${repo}@${digest}`,
      signal,
    })
    await res.body.dump()
  }

  /** Size of the blob if the repository has it. */
  async blobSize(
    repo: string,
    digest: string,
    signal?: AbortSignal,
    scopes?: string[],
  ): Promise<number | undefined> {
    const res = await this.request({
      method: 'HEAD',
      url: `/v2/${repo}/blobs/${digest}`,
      scopes: scopes ?? [pullScope(repo)],
      expect: [200, 404],
      what: `blob ${repo}@${digest}`,
      followRedirects: true,
      signal,
    })
    await res.body.dump()
    if (res.status === 404) return undefined
    return Number(res.headers['content-length'] ?? -1)
  }

  async getBlob(
    repo: string,
    digest: string,
    signal?: AbortSignal,
  ): Promise<{ stream: Readable; size: number }> {
    const res = await this.request({
      method: 'GET',
      url: `/v2/${repo}/blobs/${digest}`,
      scopes: [pullScope(repo)],
      expect: [200],
      what: `blob ${repo}@${digest}`,
      followRedirects: true,
      signal,
    })
    const len = res.headers['content-length']
    return { stream: res.body, size: len === undefined ? -1 : Number(len) }
  }

  /**
   * Starts an upload, first trying a cross-repository mount when `from` is given.
   * Returns 'mounted', or the upload location.
   */
  async startUpload(
    repo: string,
    opts: { mountDigest?: string; from?: string; signal?: AbortSignal } = {},
  ): Promise<'mounted' | string> {
    const scopes = [pushScope(repo)]
    let url = `/v2/${repo}/blobs/uploads/`
    if (opts.mountDigest && opts.from) {
      scopes.push(pullScope(opts.from))
      url += `?mount=${encodeURIComponent(opts.mountDigest)}&from=${encodeURIComponent(opts.from)}`
    }
    const res = await this.request({
      method: 'POST',
      url,
      scopes,
      headers: { 'content-length': '0' },
      expect: [201, 202],
      what: `starting blob upload to ${repo}`,
      signal: opts.signal,
    })
    await res.body.dump()
    if (res.status === 201 && opts.mountDigest) return 'mounted'
    const location = res.headers.location
    if (!location)
      throw new AirlockError('REGISTRY_HTTP', `${this.host} started an upload to ${repo} without a Location`)
    return new URL(location, await this.http.base()).toString()
  }

  /**
   * Sends a blob to an upload location and completes it with the digest. With a known size and no
   * chunk size, one monolithic PUT; otherwise PATCHes (one streamed, or fixed-size chunks), then PUT.
   */
  async uploadBlob(
    repo: string,
    location: string,
    digest: string,
    size: number,
    stream: Readable,
    signal?: AbortSignal,
  ): Promise<void> {
    const scopes = [pushScope(repo)]
    const what = `uploading blob ${digest} to ${repo}`
    const chunkSize = this.options.chunkSize ?? 0
    if (size >= 0 && chunkSize <= 0) {
      const res = await this.request({
        method: 'PUT',
        url: withQuery(location, 'digest', digest),
        scopes,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
        body: stream,
        expect: [201, 204],
        what,
        signal,
      })
      await res.body.dump()
      return
    }
    let next = location
    if (chunkSize > 0) {
      let offset = 0
      for await (const chunk of chunked(stream, chunkSize)) {
        const res = await this.request({
          method: 'PATCH',
          url: next,
          scopes,
          headers: {
            'content-type': 'application/octet-stream',
            'content-length': String(chunk.length),
            'content-range': `${offset}-${offset + chunk.length - 1}`,
          },
          body: chunk,
          expect: [202, 204],
          what,
          signal,
        })
        await res.body.dump()
        offset += chunk.length
        next = new URL(res.headers.location ?? next, await this.http.base()).toString()
      }
    } else {
      const res = await this.request({
        method: 'PATCH',
        url: next,
        scopes,
        headers: { 'content-type': 'application/octet-stream' },
        body: stream,
        expect: [202, 204],
        what,
        signal,
      })
      await res.body.dump()
      next = new URL(res.headers.location ?? next, await this.http.base()).toString()
    }
    const res = await this.request({
      method: 'PUT',
      url: withQuery(next, 'digest', digest),
      scopes,
      headers: { 'content-length': '0' },
      expect: [201, 204],
      what,
      signal,
    })
    await res.body.dump()
  }

  async cancelUpload(repo: string, location: string): Promise<void> {
    try {
      const res = await this.request({
        method: 'DELETE',
        url: location,
        scopes: [pushScope(repo)],
        expect: [204, 200, 202, 404],
        what: `cancelling upload to ${repo}`,
      })
      await res.body.dump()
    } catch {
      // Best effort: the registry expires abandoned uploads by itself.
    }
  }

  /** All tags, following `Link: <...>; rel="next"` pagination (spec.md, content discovery). */
  async listTags(repo: string, opts: { pageSize?: number; signal?: AbortSignal } = {}): Promise<string[]> {
    const tags: string[] = []
    let url: string | undefined = `/v2/${repo}/tags/list${opts.pageSize ? `?n=${opts.pageSize}` : ''}`
    while (url) {
      const res: HttpResponse & { bytes: Buffer } = await this.fetch({
        method: 'GET',
        url,
        scopes: [pullScope(repo)],
        expect: [200],
        what: `tags of ${repo}`,
        signal: opts.signal,
      })
      let doc: { tags?: string[] | null }
      try {
        doc = JSON.parse(res.bytes.toString('utf8'))
      } catch {
        throw new AirlockError(
          'REGISTRY_HTTP',
          `${this.host} answered the tag list of ${repo} with something that is not JSON`,
        )
      }
      tags.push(...(doc.tags ?? []))
      const link = res.headers.link
      const m = link ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link) : null
      url = m ? m[1] : undefined
      if (url?.startsWith('http') && new URL(url).host !== this.host) {
        throw new AirlockError(
          'REGISTRY_HTTP',
          `${this.host} sent a tags page link to another host (${new URL(url).host})`,
          {
            hint: 'airlock does not send credentials to other hosts; check the registry configuration',
          },
        )
      }
    }
    return tags
  }
}

/** How to give credentials, naming the flag of the command at hand (RegistryOptions.credsFlag). */
function loginHintFor(registry: string, flag = '--creds'): string {
  return flag.startsWith('--')
    ? `run airlock login ${registry}, or pass ${flag} USER:PASSWORD`
    : `run airlock login ${registry}, or set ${flag}`
}

function break401(host: string, what: string): never {
  throw new AirlockError('AUTH_FAILED', `${what} on ${host} failed: HTTP 401 without a usable challenge`, {
    hint: 'the registry asks for an authentication scheme airlock does not know (only Basic and Bearer)',
  })
}

function withQuery(location: string, key: string, value: string): string {
  const u = new URL(location)
  u.searchParams.set(key, value)
  return u.toString()
}

async function* chunked(stream: Readable, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = []
  let have = 0
  for await (const piece of stream as AsyncIterable<Buffer>) {
    parts.push(piece)
    have += piece.length
    while (have >= size) {
      const all = Buffer.concat(parts)
      yield all.subarray(0, size)
      parts = [all.subarray(size)]
      have = all.length - size
    }
  }
  if (have > 0) yield Buffer.concat(parts)
}
