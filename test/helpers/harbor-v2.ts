// Part of the Harbor stand-in (harbor.ts; Harbor cannot run here): Harbor's /v2/ and /service/token front, passing everything to a real docker-registry.
/**
 * What Harbor's core adds in front of its registry, as far as a pushing client sees it:
 * - repository requests for a project that does not exist are refused. Harbor answers 401
 *   UNAUTHORIZED "project <p> not found" (src/server/middleware/v2auth/auth.go: the project lookup
 *   error is sent as an UnauthorizedError); `missingProject: 'not-found'` answers 404 NOT_FOUND instead;
 * - pushes over the project's storage quota are refused with 403 DENIED, checked at blob-upload
 *   start (mounts, monolithic uploads), blob PUT and manifest PUT (goharbor/harbor
 *   src/server/middleware/quota/, src/controller/quota/controller.go);
 * - with a backing registry without auth, /v2/ takes Harbor users by basic auth (`Basic realm="harbor"`);
 *   with a token registry, the challenge's realm is rewritten to this host's /service/token.
 * Everything else goes to the registry untouched, so images really land in it.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { sendError } from './harbor-api.js'
import { blobSize, projectUsage, quotaExceededMessage } from './harbor-usage.js'
import type { TestRegistry } from './registry.js'

export interface StandInProject {
  id: number
  name: string
  public: boolean
  /** Bytes, -1 = unlimited. */
  storageLimit: number
  creationTime: string
}

export interface V2FrontOptions {
  registry: TestRegistry
  /** This server's `127.0.0.1:PORT` (known once it listens). */
  selfHost: () => string
  projects: Map<string, StandInProject>
  /** The user of valid basic credentials; null for invalid ones; undefined without any. */
  basicUser: (req: IncomingMessage) => string | null | undefined
  missingProject: 'harbor' | 'not-found'
}

type Route = { repo: string; kind: 'manifest' | 'upload' | 'blob' | 'tags'; ref: string }

function route(pathname: string): Route | undefined {
  let m = /^\/v2\/(.+)\/blobs\/uploads\/([^/]*)$/.exec(pathname)
  if (m) return { repo: m[1]!, kind: 'upload', ref: m[2]! }
  m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(pathname)
  if (m) return { repo: m[1]!, kind: 'manifest', ref: m[2]! }
  m = /^\/v2\/(.+)\/blobs\/([^/]+)$/.exec(pathname)
  if (m) return { repo: m[1]!, kind: 'blob', ref: m[2]! }
  m = /^\/v2\/(.+)\/tags\/list$/.exec(pathname)
  if (m) return { repo: m[1]!, kind: 'tags', ref: '' }
  return undefined
}

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

export function createV2Front(opts: V2FrontOptions) {
  const { registry } = opts
  const ca = registry.caFile ? readFileSync(registry.caFile, 'utf8') : undefined
  /** Bytes PATCHed into each upload session (by upload id). */
  const patched = new Map<string, number>()
  /** Bytes admitted but not yet in storage, per project: digest → size. */
  const reserved = new Map<string, Map<string, number>>()
  const locks = new Map<string, Promise<unknown>>()

  function withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const run = (locks.get(key) ?? Promise.resolve()).then(fn, fn)
    locks.set(
      key,
      run.catch(() => undefined),
    )
    return run
  }

  /** Admits `adding` bytes of `digest` into the project, or returns Harbor's refusal text. */
  function admit(p: StandInProject, digest: string, adding: number): Promise<string | undefined> {
    return withLock(p.name, async () => {
      const usage = await projectUsage(registry.rootDir, p.name)
      const held = reserved.get(p.name) ?? new Map<string, number>()
      reserved.set(p.name, held)
      let current = usage.used
      for (const [d, size] of held) if (!usage.blobs.has(d)) current += size
      const add = usage.blobs.has(digest) || held.has(digest) ? 0 : adding
      if (p.storageLimit !== -1 && add > 0 && current + add > p.storageLimit) {
        return quotaExceededMessage(add, current, p.storageLimit)
      }
      if (add > 0) held.set(digest, add)
      return undefined
    })
  }

  function release(p: StandInProject, digest: string): void {
    reserved.get(p.name)?.delete(digest)
  }

  function forward(
    req: IncomingMessage,
    res: ServerResponse,
    target: URL,
    body?: Buffer,
    onPatched?: (n: number) => void,
  ): Promise<void> {
    const self = opts.selfHost()
    const headers = { ...req.headers, host: target.host }
    if (body !== undefined) {
      delete headers['transfer-encoding']
      headers['content-length'] = String(body.length)
    }
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest
    return new Promise<void>((resolve) => {
      const up = send(target, { method: req.method, headers, ...(ca ? { ca } : {}) }, (upRes) => {
        const out = { ...upRes.headers }
        if (typeof out.location === 'string')
          out.location = out.location.replace(registry.url, `http://${self}`).replace(registry.host, self)
        const realm = registry.tokenServer?.url
        if (realm && typeof out['www-authenticate'] === 'string')
          out['www-authenticate'] = out['www-authenticate'].replace(
            realm,
            `http://${self}${new URL(realm).pathname}`,
          )
        res.writeHead(upRes.statusCode ?? 502, out)
        upRes.pipe(res)
        upRes.on('end', resolve)
        upRes.on('error', () => resolve())
      })
      up.on('error', (err) => {
        if (!res.headersSent) sendError(res, 502, 'UNKNOWN', `backing registry: ${err.message}`)
        else res.destroy()
        resolve()
      })
      if (body !== undefined) up.end(body)
      else {
        if (onPatched) req.on('data', (c: Buffer) => onPatched(c.length))
        req.pipe(up)
      }
    })
  }

  /** /service/token → the token server of a token-auth registry. */
  async function token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const server = registry.tokenServer
    if (!server) return sendError(res, 404, 'NOT_FOUND', 'no token service: the registry does not use tokens')
    const target = new URL(req.url ?? '/', server.url)
    await forward(req, res, target)
  }

  async function v2(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://standin')
    const r = route(url.pathname)
    const project = r ? (r.repo.includes('/') ? r.repo.split('/')[0]! : '') : undefined
    const p = project === undefined ? undefined : opts.projects.get(project)
    const hasAuth = req.headers.authorization !== undefined

    if (registry.auth === 'none') {
      const user = opts.basicUser(req)
      const anonymousPull = p?.public && (req.method === 'GET' || req.method === 'HEAD')
      if (user === null || (user === undefined && !anonymousPull)) {
        req.resume()
        return sendError(res, 401, 'UNAUTHORIZED', 'unauthorized', {
          'www-authenticate': 'Basic realm="harbor"',
          'docker-distribution-api-version': 'registry/2.0',
        })
      }
    }
    if (r && !p && (hasAuth || registry.auth === 'none')) {
      req.resume()
      const message = `project ${project} not found`
      if (opts.missingProject === 'not-found') return sendError(res, 404, 'NOT_FOUND', message)
      return sendError(res, 401, 'UNAUTHORIZED', message, {
        'www-authenticate': '',
        'docker-distribution-api-version': 'registry/2.0',
      })
    }

    const target = new URL(req.url ?? '/', registry.url)
    const method = req.method ?? 'GET'
    if (!r || !p || (method !== 'POST' && method !== 'PUT' && method !== 'PATCH'))
      return forward(req, res, target)

    if (r.kind === 'upload' && method === 'PATCH') {
      const id = r.ref
      return forward(req, res, target, undefined, (n) => patched.set(id, (patched.get(id) ?? 0) + n))
    }
    let digest: string | undefined
    let body: Buffer | undefined
    let adding = 0
    if (r.kind === 'upload' && method === 'POST' && url.searchParams.has('mount')) {
      digest = url.searchParams.get('mount') ?? ''
      adding = (await blobSize(registry.rootDir, digest)) ?? 0
      body = await readBody(req)
    } else if (r.kind === 'upload' && url.searchParams.has('digest')) {
      digest = url.searchParams.get('digest') ?? ''
      body = await readBody(req)
      adding = body.length + (patched.get(r.ref) ?? 0)
      patched.delete(r.ref)
    } else if (r.kind === 'manifest' && method === 'PUT') {
      body = await readBody(req)
      digest = `sha256:${createHash('sha256').update(body).digest('hex')}`
      adding = body.length
    }
    if (digest === undefined) return forward(req, res, target, body)

    const refusal = await admit(p, digest, adding)
    if (refusal) {
      if (r.kind === 'upload' && r.ref) cancelUpload(req, target)
      return sendError(res, 403, 'DENIED', refusal)
    }
    try {
      await forward(req, res, target, body)
    } finally {
      release(p, digest)
    }
  }

  /** Drops the refused upload session at the registry (best effort), as Harbor's registry would expire it. */
  function cancelUpload(req: IncomingMessage, target: URL): void {
    const headers: Record<string, string> = { host: target.host }
    if (req.headers.authorization) headers.authorization = req.headers.authorization
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest
    const del = send(target, { method: 'DELETE', headers, ...(ca ? { ca } : {}) }, (r) => r.resume())
    del.on('error', () => undefined)
    del.end()
  }

  return { v2, token }
}
