// Harbor cannot run here: this is a stand-in built from the Harbor API v2.0 description (https://github.com/goharbor/harbor/blob/main/api/v2.0/swagger.yaml), backed by a real docker-registry for /v2/.
/**
 * startHarborStandIn(): an HTTP server on 127.0.0.1 answering the subset of the Harbor API v2.0
 * airlock uses — /api/v2.0/ping, /health, /systeminfo, HEAD/GET/POST /projects,
 * GET /projects/{name_or_id} and …/summary (storage quota, usage computed from the registry's
 * storage) — with basic auth, plus Harbor's /v2/ front (harbor-v2.ts: project existence, quota)
 * over a real docker-registry, so `docker://<stand-in host>/<project>/repo:tag` pushes and pulls.
 * Every user is a system admin unless `creators` narrows who may create projects.
 */
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createApi, sendError } from './harbor-api.js'
import { createV2Front, type StandInProject } from './harbor-v2.js'
import { startRegistry, type TestRegistry } from './registry.js'

export type { StandInProject } from './harbor-v2.js'

export interface HarborStandInOptions {
  /** Backing registry; one without auth is started (and stopped) when absent. */
  registry?: TestRegistry
  /** user → password. Default: the registry's own user, or `admin` / `Harbor12345`. */
  users?: Record<string, string>
  /** Projects that exist from the start. Default: `library` (public), as in a fresh Harbor. */
  projects?: Array<{ name: string; storageLimit?: number; public?: boolean }>
  /** Users allowed to create projects (project_creation_restriction "adminonly"); default all. */
  creators?: string[]
  /** Answer to /v2/ requests for a missing project: Harbor's 401 (default) or a 404 NOT_FOUND. */
  missingProject?: 'harbor' | 'not-found'
}

export interface StandInRequest {
  method: string
  url: string
  user?: string
  status?: number
}

export interface HarborStandIn {
  /** `http://127.0.0.1:PORT` */
  url: string
  /** `127.0.0.1:PORT`, the registry host of `docker://<host>/<project>/repo:tag`. */
  host: string
  registry: TestRegistry
  users: Record<string, string>
  /** State, by project name (inspect or change it in tests). */
  projects: Map<string, StandInProject>
  requests: StandInRequest[]
  /**
   * A TestRegistry view of the stand-in for images.ts helpers such as pushRaw: same storage, basic
   * auth as `user` (or tokens through the stand-in); its stop() is the backing registry's.
   */
  asRegistry(user?: string): TestRegistry
  stop(): Promise<void>
}

export async function startHarborStandIn(opts: HarborStandInOptions = {}): Promise<HarborStandIn> {
  const ownRegistry = opts.registry === undefined
  const registry = opts.registry ?? (await startRegistry())
  const users =
    opts.users ??
    (registry.username && registry.password
      ? { [registry.username]: registry.password }
      : { admin: 'Harbor12345' })
  const projects = new Map<string, StandInProject>()
  const requests: StandInRequest[] = []
  let nextId = 1
  const addProject = (name: string, storageLimit = -1, isPublic = false): StandInProject => {
    const p = { id: nextId++, name, public: isPublic, storageLimit, creationTime: new Date().toISOString() }
    projects.set(name, p)
    return p
  }
  for (const p of opts.projects ?? [{ name: 'library', public: true }])
    addProject(p.name, p.storageLimit, p.public)

  let self = ''
  const basicUser = (req: IncomingMessage): string | null | undefined => {
    const m = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '')
    if (!m) return undefined
    const plain = Buffer.from(m[1]!, 'base64').toString('utf8')
    const i = plain.indexOf(':')
    const [user, pass] = i < 0 ? [plain, ''] : [plain.slice(0, i), plain.slice(i + 1)]
    return Object.hasOwn(users, user) && users[user] === pass ? user : null
  }
  const front = createV2Front({
    registry,
    selfHost: () => self,
    projects,
    basicUser,
    missingProject: opts.missingProject ?? 'harbor',
  })

  const api = createApi({
    registry,
    selfHost: () => self,
    projects,
    addProject,
    basicUser,
    creators: opts.creators,
  })

  const server = createServer((req, res) => {
    const entry: StandInRequest = { method: req.method ?? '', url: req.url ?? '' }
    requests.push(entry)
    res.on('finish', () => {
      entry.status = res.statusCode
    })
    const path = (req.url ?? '/').split('?')[0]!
    const work = path.startsWith('/api/v2.0/')
      ? api(req, res).then((user) => {
          if (user) entry.user = user
        })
      : path === '/v2' || path.startsWith('/v2/')
        ? front.v2(req, res)
        : path === '/service/token'
          ? front.token(req, res)
          : Promise.resolve(sendError(res, 404, 'NOT_FOUND', `${path}: not in the stand-in`))
    work.catch((err: unknown) => {
      if (!res.headersSent) sendError(res, 500, 'UNKNOWN', 'internal server error')
      else res.destroy(err as Error)
    })
  })
  server.keepAliveTimeout = 1000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  self = `127.0.0.1:${(server.address() as AddressInfo).port}`

  return {
    url: `http://${self}`,
    host: self,
    registry,
    users,
    projects,
    requests,
    asRegistry(user = Object.keys(users)[0]!) {
      const view: TestRegistry = { ...registry, host: self, url: `http://${self}`, tls: false }
      delete view.caFile
      delete view.certDir
      if (registry.auth === 'none') view.auth = 'htpasswd'
      view.username = user
      view.password = users[user]
      if (registry.tokenServer)
        view.tokenServer = { ...registry.tokenServer, url: `http://${self}/service/token` }
      return view
    },
    async stop() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      if (ownRegistry) await registry.stop()
    },
  }
}
