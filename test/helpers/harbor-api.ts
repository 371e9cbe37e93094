// Part of the Harbor stand-in (harbor.ts; Harbor cannot run here): the /api/v2.0 endpoints, from https://github.com/goharbor/harbor/blob/main/api/v2.0/swagger.yaml.
/**
 * ping, health, systeminfo (no auth), and projects: HEAD/GET/POST /projects, GET
 * /projects/{name_or_id} and …/summary. Basic auth as Harbor's API takes it: wrong credentials count
 * as anonymous, which may read public projects and nothing else (401 UNAUTHORIZED otherwise).
 */
import { randomUUID } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { projectUsage } from './harbor-usage.js'
import { readBody, type StandInProject } from './harbor-v2.js'
import { httpRequest } from './http.js'
import type { TestRegistry } from './registry.js'

/** Harbor's project name rule (goharbor/harbor src/pkg/project/manager.go). */
const NAME_RE = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/
const NAME_MAX = 255
/** 1 PiB, the largest storage_limit; -1 = unlimited (goharbor/harbor src/pkg/quota/types/resources.go). */
const STORAGE_MAX = 1125899906842624

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  })
  res.end(text)
}

/** Harbor's error body: `{"errors":[{"code","message"}]}` (`Errors` in Harbor's API v2.0 swagger.yaml). */
export function sendError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
) {
  sendJson(res, status, { errors: [{ code, message }] }, headers)
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  return JSON.parse((await readBody(req)).toString('utf8') || 'null')
}

function projectJson(p: StandInProject, repoCount: number) {
  return {
    project_id: p.id,
    name: p.name,
    owner_id: 1,
    owner_name: 'admin',
    registry_id: 0,
    repo_count: repoCount,
    creation_time: p.creationTime,
    update_time: p.creationTime,
    deleted: false,
    metadata: { public: String(p.public) },
  }
}

export interface ApiContext {
  registry: TestRegistry
  selfHost: () => string
  projects: Map<string, StandInProject>
  addProject: (name: string, storageLimit: number, isPublic: boolean) => StandInProject
  basicUser: (req: IncomingMessage) => string | null | undefined
  creators?: string[]
}

export function createApi(ctx: ApiContext) {
  const { registry, projects } = ctx

  /** Project by name, or by ID for all-digit values unless `X-Is-Resource-Name: true`. */
  const lookup = (req: IncomingMessage, nameOrId: string): StandInProject | undefined => {
    if (/^\d+$/.test(nameOrId) && req.headers['x-is-resource-name'] !== 'true')
      return [...projects.values()].find((p) => p.id === Number(nameOrId))
    return projects.get(nameOrId)
  }

  async function health(res: ServerResponse): Promise<void> {
    const ca = registry.caFile ? await readFile(registry.caFile, 'utf8') : undefined
    const up = await httpRequest(`${registry.url}/v2/`, { ca, timeoutMs: 2000 }).catch((e: Error) => e)
    const ok = !(up instanceof Error) && (up.status === 200 || up.status === 401)
    const status = ok ? 'healthy' : 'unhealthy'
    const registryPart = { name: 'registry', status, ...(ok ? {} : { error: 'registry unreachable' }) }
    sendJson(res, 200, { status, components: [{ name: 'core', status: 'healthy' }, registryPart] })
  }

  async function listProjects(url: URL, res: ServerResponse, user?: string): Promise<void> {
    const name = url.searchParams.get('name') ?? ''
    const visible = [...projects.values()].filter((p) => (user || p.public) && p.name.includes(name))
    const size = Math.min(Number(url.searchParams.get('page_size') ?? 10) || 10, 100)
    const page = Math.max(Number(url.searchParams.get('page') ?? 1) || 1, 1)
    const slice = visible.slice((page - 1) * size, page * size)
    const items = await Promise.all(
      slice.map(async (p) => projectJson(p, (await projectUsage(registry.rootDir, p.name)).repoCount)),
    )
    sendJson(res, 200, items, { 'x-total-count': String(visible.length) })
  }

  async function createProject(req: IncomingMessage, res: ServerResponse, user?: string): Promise<void> {
    if (!user) return sendError(res, 401, 'UNAUTHORIZED', 'unauthorized')
    if (ctx.creators && !ctx.creators.includes(user))
      return sendError(res, 403, 'FORBIDDEN', 'Only system admin can create project')
    const body = (await readJson(req).catch(() => undefined)) as
      | { project_name?: unknown; metadata?: Record<string, unknown>; storage_limit?: unknown }
      | undefined
    const name = body?.project_name
    if (typeof name !== 'string' || name.length < 1 || name.length > NAME_MAX || !NAME_RE.test(name)) {
      const message = 'project name is not in lower case or contains illegal characters'
      return sendError(res, 400, 'BAD_REQUEST', message)
    }
    // Harbor refuses 0 and negatives other than -1 (src/controller/quota/driver/project/project.go).
    const limit = body?.storage_limit ?? -1
    if (
      typeof limit !== 'number' ||
      !Number.isInteger(limit) ||
      (limit !== -1 && (limit <= 0 || limit > STORAGE_MAX))
    )
      return sendError(res, 400, 'BAD_REQUEST', 'invalid value for resource storage')
    const isPublic = body?.metadata?.public
    if (isPublic !== undefined && typeof isPublic !== 'string')
      return sendError(res, 422, 'UNPROCESSABLE_ENTITY', 'metadata values must be strings')
    if (projects.has(name)) return sendError(res, 409, 'CONFLICT', `The project named ${name} already exists`)
    const p = ctx.addProject(name, limit, isPublic === 'true')
    const where = req.headers['x-resource-name-in-location'] === 'true' ? p.name : String(p.id)
    res.writeHead(201, { location: `/api/v2.0/projects/${where}`, 'content-length': 0 })
    res.end()
  }

  /** Handles one /api/v2.0 request; returns the authenticated user, if any. */
  return async function api(req: IncomingMessage, res: ServerResponse): Promise<string | undefined> {
    const url = new URL(req.url ?? '/', 'http://standin')
    const path = url.pathname.slice('/api/v2.0'.length).replace(/\/+$/, '')
    const method = req.method ?? 'GET'
    const user = ctx.basicUser(req) ?? undefined
    const unauthorized = () => sendError(res, 401, 'UNAUTHORIZED', 'unauthorized')
    res.setHeader('x-request-id', randomUUID())
    if (method === 'GET' && path === '/ping') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' })
      res.end('Pong')
    } else if (method === 'GET' && path === '/health') await health(res)
    else if (method === 'GET' && path === '/systeminfo') {
      const self = ctx.selfHost()
      const info = { harbor_version: 'v2.x-standin', auth_mode: 'db_auth', read_only: false }
      sendJson(res, 200, { ...info, external_url: `http://${self}`, registry_url: self })
    } else if (path === '/projects' && method === 'HEAD') {
      if (!user) unauthorized()
      else res.writeHead(projects.has(url.searchParams.get('project_name') ?? '') ? 200 : 404).end()
    } else if (path === '/projects' && method === 'GET') await listProjects(url, res, user)
    else if (path === '/projects' && method === 'POST') await createProject(req, res, user)
    else {
      const m = /^\/projects\/([^/]+)(\/summary)?$/.exec(path)
      if (!m || method !== 'GET') {
        sendError(res, 404, 'NOT_FOUND', `${method} ${url.pathname}: not in the stand-in`)
        return user
      }
      const p = lookup(req, decodeURIComponent(m[1]!))
      if (!p || (!p.public && !user)) {
        if (user) sendError(res, 404, 'NOT_FOUND', `project ${m[1]} not found`)
        else unauthorized()
        return user
      }
      const usage = await projectUsage(registry.rootDir, p.name)
      if (!m[2]) sendJson(res, 200, projectJson(p, usage.repoCount))
      else {
        const members = { project_admin_count: 1, maintainer_count: 0, developer_count: 0, guest_count: 0 }
        const quota = { hard: { storage: p.storageLimit }, used: { storage: usage.used } }
        sendJson(res, 200, { repo_count: usage.repoCount, ...members, limited_guest_count: 0, quota })
      }
    }
    return user
  }
}
