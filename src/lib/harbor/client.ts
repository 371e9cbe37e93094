/**
 * A client for the Harbor API v2.0 (https://github.com/goharbor/harbor/blob/main/api/v2.0/swagger.yaml):
 * ping, projects (exists, get, create, ensure) and project storage quotas. Requests, auth, retries
 * and errors are api-transport.ts's; this file is what each endpoint means. It never prints.
 */
import { AirlockError } from '../errors.js'
import type { Credentials, RegistryOptions } from '../transports/registry/options.js'
import { API_BASE, HarborApi } from './api-transport.js'
import { projectName } from './project-name.js'
import { checkStorageLimit } from './storage-limit.js'

export interface HarborClientOptions {
  /** `https://harbor.example.org`, `http://127.0.0.1:8080`, or a bare host (https, as registries are). */
  url: string
  /** Explicit credentials; otherwise those stored for the Harbor host (auth files, helpers). */
  credentials?: Credentials
  /** Verify TLS (default true); false also allows plain http to a non-loopback host. */
  tlsVerify?: boolean
  /** certs.d directories, auth file, env, retries, request observer: as for registries. */
  registryOptions?: RegistryOptions
}

/** The parts of Harbor's `Project` model airlock uses. */
export interface HarborProject {
  id: number
  name: string
  public: boolean
  /** `metadata` as Harbor returns it (string values, e.g. `{"public":"false"}`). */
  metadata: Record<string, string>
  repoCount?: number
  creationTime?: string
}

export interface CreateProjectOptions {
  /** Bytes; -1 = unlimited; at most 1 PiB. Omitted: Harbor's default for new projects. */
  storageLimit?: number
  /** Anonymous pull allowed (default false). */
  public?: boolean
}

export interface EnsureProjectOptions extends CreateProjectOptions {
  /** Create the project when it is missing (else NOT_FOUND). */
  create: boolean
  /** Only look: a missing project that would be created is reported as `missing`, not created. */
  dryRun?: boolean
  /** What to tell the user when the project is missing and will not be created. */
  missingHint?: string
}

export interface ProjectQuota {
  /** Storage limit in bytes, -1 for unlimited. */
  hard: number
  /** Bytes used (blobs shared by repositories of the project count once). */
  used: number
}

export class HarborClient {
  /** `harbor.example.org` or `127.0.0.1:8080`: where credentials are looked up. */
  readonly host: string
  private readonly api: HarborApi

  constructor(init: HarborClientOptions) {
    const options = { ...init.registryOptions, tlsVerify: init.tlsVerify ?? init.registryOptions?.tlsVerify }
    this.api = new HarborApi(init.url, options, init.credentials)
    this.host = this.api.host
  }

  /** The credentials requests carry: explicit ones, else those stored for the Harbor host. */
  credentials(): Promise<Credentials | undefined> {
    return this.api.credentials()
  }

  /** GET /ping answers `Pong` without auth (src/server/v2.0/handler/ping.go). */
  async ping(): Promise<void> {
    const res = await this.api.call({ method: 'GET', path: '/ping', what: 'ping', expect: [200, 404] })
    const text = res.text().trim()
    if (res.status !== 200 || text !== 'Pong') {
      throw new AirlockError('REGISTRY_HTTP', `${this.host} does not answer as a Harbor v2.0 API`, {
        status: res.status,
        hint: `GET ${API_BASE}/ping answered HTTP ${res.status}; check the URL is Harbor's (2.0 or newer), without a path`,
      })
    }
  }

  /** HEAD /projects?project_name= gives 200 or 404 (Harbor API v2.0 swagger.yaml, `headProject`). */
  async projectExists(name: string): Promise<boolean> {
    const project = projectName(name).name
    const res = await this.api.call({
      method: 'HEAD',
      path: `/projects?project_name=${encodeURIComponent(project)}`,
      what: `look up project "${project}"`,
      expect: [200, 404],
    })
    return res.status === 200
  }

  /** GET /projects/{name}; all-digit names need `X-Is-Resource-Name: true` to not be read as IDs. */
  async getProject(name: string): Promise<HarborProject> {
    const project = projectName(name).name
    const res = await this.api.call({
      method: 'GET',
      path: `/projects/${encodeURIComponent(project)}`,
      headers: byName(project),
      what: `get project "${project}"`,
      expect: [200],
      notFoundHint: missingHint(project),
    })
    const doc = res.json() as {
      project_id: number
      name: string
      metadata?: Record<string, string>
      repo_count?: number
      creation_time?: string
    }
    const metadata = doc.metadata ?? {}
    return {
      id: doc.project_id,
      name: doc.name,
      public: metadata.public === 'true',
      metadata,
      ...(doc.repo_count !== undefined ? { repoCount: doc.repo_count } : {}),
      ...(doc.creation_time ? { creationTime: doc.creation_time } : {}),
    }
  }

  /**
   * POST /projects (`ProjectReq`: project_name, metadata.public as a string, storage_limit); 201, or
   * 409 when it exists already, which counts as done (`created: false`).
   */
  async createProject(name: string, opts: CreateProjectOptions = {}): Promise<{ created: boolean }> {
    const project = projectName(name).name
    const body: Record<string, unknown> = {
      project_name: project,
      metadata: { public: opts.public ? 'true' : 'false' },
    }
    if (opts.storageLimit !== undefined) body.storage_limit = checkStorageLimit(opts.storageLimit)
    const res = await this.api.call({
      method: 'POST',
      path: '/projects',
      body,
      what: `create project "${project}"`,
      expect: [201, 409],
      forbiddenHint: `Harbor may let only admins create projects (project_creation_restriction); ask a Harbor admin to create "${project}", or use an account allowed to`,
    })
    return { created: res.status === 201 }
  }

  /** Makes sure a project exists: nothing if it does; created if missing and `create`; else NOT_FOUND. */
  async ensureProject(
    name: string,
    opts: EnsureProjectOptions,
  ): Promise<{ created: boolean; name: string; missing?: boolean }> {
    const project = projectName(name).name
    if (opts.storageLimit !== undefined) checkStorageLimit(opts.storageLimit)
    if (await this.projectExists(project)) return { created: false, name: project }
    if (!opts.create) {
      throw new AirlockError('NOT_FOUND', `Harbor project "${project}" does not exist on ${this.host}`, {
        hint: opts.missingHint ?? missingHint(project),
      })
    }
    if (opts.dryRun) return { created: false, name: project, missing: true }
    const { created } = await this.createProject(project, opts)
    return { created, name: project }
  }

  /** Storage quota from GET /projects/{name}/summary: `quota.hard.storage` and `quota.used.storage`. */
  async projectQuota(name: string): Promise<ProjectQuota> {
    const project = projectName(name).name
    const res = await this.api.call({
      method: 'GET',
      path: `/projects/${encodeURIComponent(project)}/summary`,
      headers: byName(project),
      what: `read the quota of project "${project}"`,
      expect: [200],
      notFoundHint: missingHint(project),
    })
    const doc = res.json() as {
      quota?: { hard?: { storage?: number }; used?: { storage?: number } }
    }
    const hard = doc.quota?.hard?.storage
    if (typeof hard !== 'number') {
      throw new AirlockError('DENIED', `Harbor ${this.host} shows no quota for project "${project}"`, {
        hint: 'Harbor shows a project quota to its members and to admins; check the account is a member',
      })
    }
    return { hard, used: doc.quota?.used?.storage ?? 0 }
  }
}

function byName(project: string): Record<string, string> {
  return /^\d+$/.test(project) ? { 'x-is-resource-name': 'true' } : {}
}

function missingHint(project: string): string {
  return `create project "${project}" in Harbor (Projects → New Project), or let airlock create it: createProject: true in the mirror spec (needs an account allowed to create projects)`
}
