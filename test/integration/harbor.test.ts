/**
 * HarborClient against the Harbor stand-in (test/helpers/harbor.ts: Harbor cannot run here; the
 * stand-in follows Harbor's API v2.0 swagger.yaml, goharbor/harbor api/v2.0, and keeps images in a
 * real docker-registry).
 * Pushes through the stand-in's /v2/ front (quotas, missing projects): harbor-push.test.ts.
 */
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HarborClient } from '../../src/lib/harbor/client.js'
import { STORAGE_LIMIT_MAX } from '../../src/lib/harbor/storage-limit.js'
import { closeAgents } from '../../src/lib/transports/registry/agent-pool.js'
import { rejectionOf } from '../helpers/errors.js'
import { type HarborStandIn, startHarborStandIn } from '../helpers/harbor.js'
import { freePort } from '../helpers/ports.js'
import { startProxy } from '../helpers/proxy.js'
import { registryRequest, startRegistry, type TestRegistry } from '../helpers/registry.js'

const ADMIN = { username: 'admin', password: 'Harbor12345' }
const DEV = { username: 'dev', password: 'dev-pass-123' }
const MiB = 1024 * 1024

let registry: TestRegistry
let harbor: HarborStandIn
let client: HarborClient

beforeAll(async () => {
  registry = await startRegistry()
  harbor = await startHarborStandIn({
    registry,
    users: { admin: ADMIN.password, dev: DEV.password },
    projects: [{ name: 'library', public: true }],
    creators: ['admin'],
  })
  client = new HarborClient({ url: harbor.url, credentials: ADMIN })
})

afterAll(async () => {
  await closeAgents()
  await harbor?.stop()
  await registry?.stop()
})

describe('HarborClient: ping and reachability', () => {
  it('pings (GET /api/v2.0/ping → Pong)', async () => {
    await expect(client.ping()).resolves.toBeUndefined()
  })

  it('says a plain registry is not a Harbor API', async () => {
    const err = await rejectionOf(new HarborClient({ url: registry.url }).ping())
    expect(err.code).toBe('REGISTRY_HTTP')
    expect(err.hint).toContain('/api/v2.0/ping')
  })

  it('is UNREACHABLE with a hint when nothing listens', async () => {
    const url = `http://127.0.0.1:${await freePort()}`
    const err = await rejectionOf(new HarborClient({ url }).ping())
    expect(err.code).toBe('UNREACHABLE')
    expect(err.message).toContain('Harbor API')
    expect(err.hint).toMatch(/Harbor URL/)
  })

  it('refuses plain http to a non-loopback host unless TLS verification is off', () => {
    expect(() => new HarborClient({ url: 'http://harbor.example.org' })).toThrow(/plain http/)
    expect(() => new HarborClient({ url: 'http://harbor.example.org', tlsVerify: false })).not.toThrow()
  })
})

describe('HarborClient: projects', () => {
  it('ensureProject creates a missing project with a storage limit, then leaves it alone', async () => {
    const posts = () => harbor.requests.filter((r) => r.method === 'POST' && r.url === '/api/v2.0/projects')
    const before = posts().length
    await expect(client.ensureProject('chem', { create: true, storageLimit: 10 * MiB })).resolves.toEqual({
      created: true,
      name: 'chem',
    })
    expect(harbor.projects.get('chem')).toMatchObject({ name: 'chem', storageLimit: 10 * MiB, public: false })
    await expect(client.ensureProject('chem', { create: true, storageLimit: 10 * MiB })).resolves.toEqual({
      created: false,
      name: 'chem',
    })
    expect(posts().length - before).toBe(1)
    expect(posts().at(-1)?.user).toBe('admin')
    const project = await client.getProject('chem')
    expect(project).toMatchObject({ name: 'chem', public: false, metadata: { public: 'false' } })
    expect(project.id).toBe(harbor.projects.get('chem')?.id)
    await expect(client.projectQuota('chem')).resolves.toEqual({ hard: 10 * MiB, used: 0 })
  })

  it('lowercases group names, creates public and unlimited projects, and takes a 409 as done', async () => {
    await expect(client.ensureProject('MyGroup', { create: true, public: true })).resolves.toEqual({
      created: true,
      name: 'mygroup',
    })
    expect(harbor.projects.get('mygroup')).toMatchObject({ public: true, storageLimit: -1 })
    await expect(client.createProject('mygroup')).resolves.toEqual({ created: false })
    await expect(client.projectQuota('mygroup')).resolves.toEqual({ hard: -1, used: 0 })
  })

  it('reads all-digit project names as names (X-Is-Resource-Name)', async () => {
    await client.ensureProject('2024', { create: true })
    expect((await client.getProject('2024')).name).toBe('2024')
  })

  it('a missing project with create: false is NOT_FOUND, with a hint to create it', async () => {
    expect(await client.projectExists('physics')).toBe(false)
    const err = await rejectionOf(client.ensureProject('physics', { create: false }))
    expect(err.code).toBe('NOT_FOUND')
    expect(err.message).toContain('"physics"')
    expect(err.hint).toContain('createProject')
    expect(harbor.projects.has('physics')).toBe(false)
    expect((await rejectionOf(client.getProject('physics'))).code).toBe('NOT_FOUND')
  })

  it('refuses bad names and storage limits before sending anything', async () => {
    const sent = harbor.requests.length
    for (const bad of ['my group', '-x', 'a..b', 'x'.repeat(256)]) {
      expect((await rejectionOf(client.ensureProject(bad, { create: true }))).code).toBe('INVALID_INPUT')
      expect((await rejectionOf(client.projectExists(bad))).code).toBe('INVALID_INPUT')
    }
    for (const limit of [0, -2, 1.5, STORAGE_LIMIT_MAX + 1]) {
      const err = await rejectionOf(client.ensureProject('okname', { create: true, storageLimit: limit }))
      expect(err.code).toBe('INVALID_INPUT')
      expect(err.hint).toContain('1125899906842624')
    }
    expect(harbor.requests.length).toBe(sent)
  })

  it('the stand-in itself answers bad names and duplicates as Harbor does', async () => {
    const post = (body: unknown) =>
      registryRequest(harbor.asRegistry(), '/api/v2.0/projects', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      })
    const bad = await post({ project_name: 'Bad_Name', metadata: { public: 'false' } })
    expect(bad.status).toBe(400)
    expect(JSON.parse(bad.body.toString())).toEqual({
      errors: [
        { code: 'BAD_REQUEST', message: 'project name is not in lower case or contains illegal characters' },
      ],
    })
    const dup = await post({ project_name: 'library' })
    expect(dup.status).toBe(409)
    expect(JSON.parse(dup.body.toString()).errors[0].code).toBe('CONFLICT')
    expect((await post({ project_name: 'huge', storage_limit: STORAGE_LIMIT_MAX + 1 })).status).toBe(400)
    expect((await post({ project_name: 'max', storage_limit: STORAGE_LIMIT_MAX })).status).toBe(201)
  })
})

describe('HarborClient: authentication', () => {
  it('401 is AUTH_FAILED with a login hint, and never shows the password', async () => {
    const password = 'Wr0ng-S3cret-pw'
    const bad = new HarborClient({ url: harbor.url, credentials: { username: 'admin', password } })
    const err = await rejectionOf(bad.ensureProject('library', { create: false }))
    expect(err.code).toBe('AUTH_FAILED')
    expect(err.status).toBe(401)
    expect(err.hint).toContain(`airlock login ${harbor.host}`)
    expect(err.hint).toContain('robot$')
    expect(JSON.stringify({ ...err.toJSON(), stack: err.stack })).not.toContain(password)
    const home = await mkdtemp(path.join(tmpdir(), 'airlock-harbor-home-'))
    const anonymous = new HarborClient({ url: harbor.url, registryOptions: { env: { HOME: home } } })
    expect((await rejectionOf(anonymous.projectExists('library'))).hint).toContain('log in first')
  })

  it('finds the credentials airlock login stored for the Harbor host', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'airlock-harbor-auth-'))
    const authfile = path.join(dir, 'auth.json')
    const auth = Buffer.from(`${ADMIN.username}:${ADMIN.password}`).toString('base64')
    await writeFile(authfile, JSON.stringify({ auths: { [harbor.host]: { auth } } }))
    const stored = new HarborClient({ url: harbor.url, registryOptions: { authfile } })
    expect(await stored.projectExists('library')).toBe(true)
    expect(harbor.requests.at(-1)?.user).toBe('admin')
  })

  it('403 is AUTH_FAILED "not allowed" with a hint about who may create projects', async () => {
    const dev = new HarborClient({ url: harbor.url, credentials: DEV })
    const err = await rejectionOf(dev.ensureProject('devproj', { create: true }))
    expect(err.code).toBe('AUTH_FAILED')
    expect(err.status).toBe(403)
    expect(err.message).toContain('not allowed for user "dev"')
    expect(err.hint).toContain('admin')
    expect(harbor.projects.has('devproj')).toBe(false)
  })

  it('retries 5xx on reads, and reports a lasting 5xx as REGISTRY_HTTP after retries+1 requests', async () => {
    let failures = 2
    const proxy = await startProxy(harbor.host, () =>
      failures-- > 0 ? { action: 'respond', status: 503, body: 'internal server error' } : undefined,
    )
    try {
      const opts = { credentials: ADMIN, registryOptions: { backoffMs: 1 } }
      const flaky = new HarborClient({ url: `http://${proxy.host}`, ...opts })
      expect(await flaky.projectExists('library')).toBe(true)
      failures = 1000
      const before = proxy.hits.length
      const err = await rejectionOf(flaky.projectQuota('library'))
      expect(err.code).toBe('REGISTRY_HTTP')
      // The policy's default 3 retries: 4 requests, and the error says no layer above may retry.
      expect(proxy.hits.length - before).toBe(4)
      expect(err.retryable).toBe(false)
    } finally {
      await proxy.stop()
    }
  })
})
