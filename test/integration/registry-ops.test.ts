/**
 * Registry operations other than copy, against real registries: tags (all pages), tag (manifest
 * only, byte for byte), inspect (human, --json, --raw), chunked and streamed blob uploads, TLS.
 */
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import type { IncomingMessage } from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AirlockError } from '../../src/lib/errors.js'
import { closeAgents } from '../../src/lib/transports/registry/agent-pool.js'
import { RegistryClient } from '../../src/lib/transports/registry/client.js'
import type { RegistryOptions } from '../../src/lib/transports/registry/options.js'
import { formatBytes } from '../../src/ui/format.js'
import { json, runCli } from '../helpers/cli.js'
import {
  blob,
  fetchManifestRaw,
  type GeneratedImage,
  type GeneratedIndex,
  MANIFEST_INDENT,
  MEDIA_TYPES,
  makeImage,
  makeIndex,
  pseudoRandomBytes,
  pushRaw,
} from '../helpers/images.js'
import { type Intercept, startProxy } from '../helpers/proxy.js'
import { header, registryRequest, startRegistry, type TestRegistry } from '../helpers/registry.js'

const TAGS = ['1.0', '1.1', '2.0', 'beta', 'latest', 'rc-1', 'z_last']
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`

interface ErrorJson {
  error: { code: string; message: string; hint?: string }
}

let reg: TestRegistry
let tls: TestRegistry
let app: GeneratedImage
let multi: GeneratedIndex

/** A Docker image whose config has an entrypoint, env, working dir and labels. */
async function imageWithConfig(): Promise<GeneratedImage> {
  const base = await makeImage({ layerSizes: [30_000, 12_000], format: 'docker', seed: 201 })
  const doc = JSON.parse(base.config.bytes.toString('utf8'))
  doc.config.Entrypoint = ['/usr/bin/app', '--serve']
  doc.config.Cmd = ['--port', '8080']
  doc.config.Env = ['PATH=/usr/bin:/bin', 'APP_MODE=production']
  doc.config.WorkingDir = '/srv/app'
  const config = blob(Buffer.from(JSON.stringify(doc, null, MANIFEST_INDENT)), MEDIA_TYPES.docker.config)
  const d = (b: { mediaType: string; digest: string; size: number }) => ({
    mediaType: b.mediaType,
    digest: b.digest,
    size: b.size,
  })
  const manifestJson = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.docker.manifest,
    config: d(config),
    layers: base.layers.map(d),
  }
  const manifest = blob(
    Buffer.from(JSON.stringify(manifestJson, null, MANIFEST_INDENT)),
    MEDIA_TYPES.docker.manifest,
  )
  return { ...base, config, manifest }
}

beforeAll(async () => {
  ;[reg, tls] = await Promise.all([startRegistry(), startRegistry({ tls: true })])
  app = await imageWithConfig()
  multi = await makeIndex({
    platforms: [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
    ],
    layerSizes: [20_000, 5_000],
    seed: 202,
  })
  await Promise.all([
    pushRaw(reg, 'lib/app', 'v1', app),
    pushRaw(reg, 'lib/multi', '1.0', multi),
    pushRaw(tls, 'lib/app', 'v1', app),
  ])
  for (const t of TAGS) await pushRaw(reg, 'lib/tags', t, app)
})

afterAll(async () => {
  await closeAgents()
  await Promise.all([reg?.stop(), tls?.stop()])
})

function counting(extra: RegistryOptions = {}) {
  const seen: Array<{ method: string; path: string; status: number }> = []
  const options: RegistryOptions = {
    ...extra,
    onRequest: (r) => seen.push({ method: r.method, path: r.path, status: r.status }),
  }
  return { seen, options }
}

/**
 * distribution 2.8 ignores `n`/`last` and never paginates tag lists, so a proxy in front of the real
 * registry pages the registry's own answer as the spec (and Harbor, GHCR, Docker Hub) do: `n` tags
 * after `last`, in lexical order, with `Link: <...>; rel="next"` while more remain. `absolute`
 * makes the Link an absolute URL, as some registries send it.
 */
function paginate(
  all: string[],
  defaultPage: number,
  absolute?: () => string,
): (req: IncomingMessage) => Intercept {
  return (req) => {
    const u = new URL(req.url ?? '/', 'http://proxy')
    if (req.method !== 'GET' || u.pathname !== '/v2/lib/tags/tags/list') return undefined
    const n = Number(u.searchParams.get('n') ?? defaultPage)
    const last = u.searchParams.get('last')
    const rest = all.filter((t) => last === null || t > last)
    const page = rest.slice(0, n)
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    if (rest.length > n) {
      const next = `/v2/lib/tags/tags/list?n=${n}&last=${encodeURIComponent(page[page.length - 1])}`
      headers.link = `<${absolute ? `http://${absolute()}${next}` : next}>; rel="next"`
    }
    return { action: 'respond', status: 200, headers, body: JSON.stringify({ name: 'lib/tags', tags: page }) }
  }
}

describe('tags', () => {
  let stored: string[]
  beforeAll(async () => {
    const res = await registryRequest(reg, '/v2/lib/tags/tags/list')
    stored = (JSON.parse(res.body.toString('utf8')) as { tags: string[] }).tags.sort()
    expect(stored).toEqual(TAGS)
  })

  it('airlock tags lists every tag, across pages the registry sends', async () => {
    const proxy = await startProxy(reg.host, paginate(stored, 3))
    try {
      const r = await runCli(['tags', '--json', `docker://${proxy.host}/lib/tags`])
      expect(r.code, r.stderr).toBe(0)
      const out = json<{ repository: string; tags: string[] }>(r)
      expect(out.repository).toBe(`${proxy.host}/lib/tags`)
      expect(out.tags).toEqual(TAGS)
      expect(proxy.hits.filter((h) => h.url.includes('/tags/list')).map((h) => h.url)).toEqual([
        '/v2/lib/tags/tags/list',
        '/v2/lib/tags/tags/list?n=3&last=2.0',
        '/v2/lib/tags/tags/list?n=3&last=rc-1',
      ])
    } finally {
      await proxy.stop()
    }

    const human = await runCli(['tags', `${reg.host}/lib/tags`])
    expect(human.code, human.stderr).toBe(0)
    expect(human.stdout.trim().split('\n').sort()).toEqual(TAGS)

    const withTag = await runCli(['tags', `${reg.host}/lib/tags:1.0`])
    expect(withTag.code).toBe(2)
    expect(withTag.stderr).toContain(`airlock tags ${reg.host}/lib/tags`)
  })

  it('RegistryClient.listTags with pageSize follows relative and absolute Link headers', async () => {
    let proxyHost = ''
    for (const absolute of [undefined, () => proxyHost]) {
      const proxy = await startProxy(reg.host, paginate(stored, 100, absolute))
      proxyHost = proxy.host
      try {
        const { seen, options } = counting()
        const tags = await new RegistryClient(proxy.host, options).listTags('lib/tags', { pageSize: 2 })
        expect(tags).toEqual(TAGS)
        expect(seen.map((s) => `${s.method} ${s.path} ${s.status}`)).toEqual(
          Array(4).fill('GET /v2/lib/tags/tags/list 200'), // 2 + 2 + 2 + 1
        )
        expect(proxy.hits.map((h) => h.url)).toEqual([
          '/v2/lib/tags/tags/list?n=2',
          '/v2/lib/tags/tags/list?n=2&last=1.1',
          '/v2/lib/tags/tags/list?n=2&last=beta',
          '/v2/lib/tags/tags/list?n=2&last=rc-1',
        ])
      } finally {
        await proxy.stop()
      }
    }
  })
})

describe('tag', () => {
  it('points new tags at the same digest with byte-identical manifests, uploading no blob', async () => {
    const proxy = await startProxy(reg.host)
    try {
      const r = await runCli(['tag', '--json', `${proxy.host}/lib/app:v1`, 't1', `${proxy.host}/lib/app:t2`])
      expect(r.code, r.stderr).toBe(0)
      expect(json(r)).toEqual({
        where: 'registry',
        notices: [],
        source: `docker://${proxy.host}/lib/app:v1`,
        digest: app.manifest.digest,
        tagged: [`${proxy.host}/lib/app:t1`, `${proxy.host}/lib/app:t2`],
      })
      const writes = proxy.hits.filter((h) => h.method !== 'GET' && h.method !== 'HEAD')
      expect(writes.map((h) => `${h.method} ${h.url} ${h.status}`)).toEqual([
        'PUT /v2/lib/app/manifests/t1 201',
        'PUT /v2/lib/app/manifests/t2 201',
      ])
      expect(proxy.hits.some((h) => h.url.includes('/blobs/'))).toBe(false)
    } finally {
      await proxy.stop()
    }
    for (const t of ['t1', 't2']) {
      const m = await fetchManifestRaw(reg, 'lib/app', t)
      expect(m.digest).toBe(app.manifest.digest)
      expect(m.bytes.equals(app.manifest.bytes)).toBe(true)
      expect(m.contentType).toBe(MEDIA_TYPES.docker.manifest)
    }
  })

  it('tags an index by digest, keeping its bytes and media type', async () => {
    const r = await runCli(['tag', `${reg.host}/lib/multi@${multi.index.digest}`, 'stable'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout.trim()).toBe(`${reg.host}/lib/multi:stable -> ${multi.index.digest}`)
    const m = await fetchManifestRaw(reg, 'lib/multi', 'stable')
    expect(m.bytes.equals(multi.index.bytes)).toBe(true)
    expect(m.contentType).toBe(MEDIA_TYPES.oci.index)
  })

  it('refuses a tag in another repository with exit 2 and points to airlock copy', async () => {
    const r = await runCli(['tag', `${reg.host}/lib/app:v1`, 'ok-tag', `${reg.host}/other/app:x`])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(`${reg.host}/other/app:x is in another repository than ${reg.host}/lib/app`)
    expect(r.stderr).toMatch(/Hint: .*airlock copy /)
    // Refused before anything was written, the valid tag included.
    expect((await fetchManifestRaw(reg, 'other/app', 'x')).status).toBe(404)
    expect((await fetchManifestRaw(reg, 'lib/app', 'ok-tag')).status).toBe(404)
  })
})

describe('inspect', () => {
  it('shows digest, config and layer sizes of an image (human and --json)', async () => {
    const sizes = app.layers.map((l) => l.size)
    const human = await runCli(['inspect', `${reg.host}/lib/app:v1`])
    expect(human.code, human.stderr).toBe(0)
    const lines = human.stdout.split('\n')
    expect(lines).toContain(`Reference:  docker://${reg.host}/lib/app:v1`)
    expect(lines).toContain(`Digest:     ${app.manifest.digest}`)
    expect(lines).toContain(`MediaType:  ${MEDIA_TYPES.docker.manifest}`)
    expect(lines).toContain('Image (linux/amd64)')
    expect(lines).toContain('  Entrypoint: ["/usr/bin/app","--serve"]')
    expect(lines).toContain('  Cmd:        ["--port","8080"]')
    expect(lines).toContain('  Env:        PATH=/usr/bin:/bin APP_MODE=production')
    expect(lines).toContain(`  Layers:     2, ${formatBytes(sizes[0] + sizes[1])}`)
    for (const l of app.layers) expect(lines).toContain(`    ${l.digest}  ${formatBytes(l.size)}`)

    const r = await runCli(['inspect', '--json', `docker://${reg.host}/lib/app:v1`])
    expect(r.code, r.stderr).toBe(0)
    const out = json<Record<string, unknown>>(r)
    expect(out).toMatchObject({
      reference: `docker://${reg.host}/lib/app:v1`,
      digest: app.manifest.digest,
      mediaType: MEDIA_TYPES.docker.manifest,
      kind: 'image',
      platforms: ['linux/amd64'],
      size: app.manifest.size + app.config.size + sizes[0] + sizes[1],
    })
    const image = (out.images as Array<Record<string, unknown>>)[0]
    expect(image.layers).toEqual(
      app.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType })),
    )
    expect(image.config).toMatchObject({
      digest: app.config.digest,
      entrypoint: ['/usr/bin/app', '--serve'],
      cmd: ['--port', '8080'],
      env: ['PATH=/usr/bin:/bin', 'APP_MODE=production'],
      workingDir: '/srv/app',
      os: 'linux',
      architecture: 'amd64',
    })
  })

  it('shows the platforms and per-platform layers of an index', async () => {
    const human = await runCli(['inspect', `${reg.host}/lib/multi:1.0`])
    expect(human.code, human.stderr).toBe(0)
    expect(human.stdout).toContain(`Digest:     ${multi.index.digest}`)
    expect(human.stdout).toContain('Platforms:  linux/amd64, linux/arm64/v8')
    for (const img of multi.images) {
      const p = [img.platform.os, img.platform.architecture, img.platform.variant].filter(Boolean).join('/')
      expect(human.stdout).toContain(`${p}  ${img.manifest.digest}`)
    }

    const r = await runCli(['inspect', '--json', `${reg.host}/lib/multi:1.0`])
    expect(r.code, r.stderr).toBe(0)
    const out = json<{
      digest: string
      kind: string
      mediaType: string
      platforms: string[]
      size: number
      images: Array<{ digest: string; platform: string; layers: Array<{ digest: string; size: number }> }>
    }>(r)
    expect(out.digest).toBe(multi.index.digest)
    expect(out.kind).toBe('index')
    expect(out.mediaType).toBe(MEDIA_TYPES.oci.index)
    expect(out.platforms).toEqual(['linux/amd64', 'linux/arm64/v8'])
    expect(out.images.map((i) => i.digest)).toEqual(multi.images.map((i) => i.manifest.digest))
    expect(out.images.map((i) => i.layers.map((l) => l.size))).toEqual(
      multi.images.map((i) => i.layers.map((l) => l.size)),
    )
    let total = multi.index.size
    for (const img of multi.images)
      total += img.manifest.size + img.config.size + img.layers.reduce((n, l) => n + l.size, 0)
    expect(out.size).toBe(total)
  })

  it('--raw prints the stored manifest byte for byte', async () => {
    const image = await runCli(['inspect', '--raw', `${reg.host}/lib/app:v1`])
    expect(image.code, image.stderr).toBe(0)
    expect(Buffer.from(image.stdout).equals(app.manifest.bytes)).toBe(true)
    const index = await runCli(['inspect', '--raw', `${reg.host}/lib/multi@${multi.index.digest}`])
    expect(index.code, index.stderr).toBe(0)
    expect(sha256(Buffer.from(index.stdout))).toBe(multi.index.digest)
    expect(Buffer.from(index.stdout).equals(multi.index.bytes)).toBe(true)
  })
})

describe('blob uploads', () => {
  const data = pseudoRandomBytes(300 * 1024, 'airlock-chunked-upload')
  const digest = sha256(data)

  /** Irregular pieces, so chunks have to be assembled across piece boundaries. */
  const pieces = () => {
    const out: Buffer[] = []
    for (let at = 0, i = 0; at < data.length; i++) {
      const n = [10_000, 70_001, 3, 50_000][i % 4]
      out.push(data.subarray(at, at + n))
      at += n
    }
    return Readable.from(out)
  }

  async function expectStored(repo: string) {
    const head = await registryRequest(reg, `/v2/${repo}/blobs/${digest}`, { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(Number(header(head, 'content-length'))).toBe(data.length)
    expect(header(head, 'docker-content-digest')).toBe(digest)
    const get = await registryRequest(reg, `/v2/${repo}/blobs/${digest}`)
    expect(sha256(get.body)).toBe(digest)
  }

  it('uploads a 300 KiB blob in 64 KiB chunks (PATCH with Content-Range), then completes it', async () => {
    const { seen, options } = counting({ chunkSize: 65_536 })
    const client = new RegistryClient(reg.host, options)
    const location = await client.startUpload('lib/chunked')
    expect(location).toMatch(new RegExp(`^http://${reg.host}/v2/lib/chunked/blobs/uploads/`))
    await client.uploadBlob('lib/chunked', location, digest, data.length, pieces())
    const patches = seen.filter((s) => s.method === 'PATCH')
    expect(patches).toHaveLength(Math.ceil(data.length / 65_536)) // 5
    expect(patches.every((p) => p.status === 202)).toBe(true)
    expect(seen.filter((s) => s.method === 'PUT').map((s) => s.status)).toEqual([201])
    await expectStored('lib/chunked')
  })

  it('streams a blob of unknown size (-1) in one PATCH, then completes it', async () => {
    const { seen, options } = counting()
    const client = new RegistryClient(reg.host, options)
    const location = await client.startUpload('lib/streamed')
    await client.uploadBlob('lib/streamed', location, digest, -1, pieces())
    expect(seen.map((s) => `${s.method} ${s.status}`)).toEqual(['POST 202', 'PATCH 202', 'PUT 201'])
    await expectStored('lib/streamed')
  })

  it('a completed upload whose content does not match the digest is refused', async () => {
    const client = new RegistryClient(reg.host, { chunkSize: 65_536 })
    const location = await client.startUpload('lib/badupload')
    const wrong = `sha256:${'0'.repeat(64)}`
    const err = await client
      .uploadBlob('lib/badupload', location, wrong, data.length, pieces())
      .catch((e) => e)
    expect(err).toBeInstanceOf(AirlockError)
    expect((err as AirlockError).message).toContain('DIGEST_INVALID')
    const head = await registryRequest(reg, `/v2/lib/badupload/blobs/${digest}`, { method: 'HEAD' })
    expect(head.status).toBe(404)
  })
})

describe('TLS', () => {
  it('refuses an unknown certificate by default, with a hint; --tls-verify=false works', async () => {
    const ref = `${tls.host}/lib/app:v1`
    const r = await runCli(['inspect', '--json', ref])
    expect(r.code).toBe(1)
    const err = json<ErrorJson>(r).error
    expect(err.code).toBe('TLS_FAILED')
    expect(err.message).toContain(tls.host)
    expect(err.hint).toContain('--tls-verify=false')
    expect(err.hint).toContain(`certs.d/${tls.host}/ca.crt`)

    const ok = await runCli(['inspect', '--json', '--no-config', '--tls-verify=false', ref])
    expect(ok.code, ok.stderr).toBe(0)
    expect(json<{ digest: string }>(ok).digest).toBe(app.manifest.digest)
  })

  it('trusts a CA found at <certDir>/<host>/ca.crt (RegistryOptions.certDirs)', async () => {
    await closeAgents()
    const certs = await mkdtemp(path.join(tmpdir(), 'airlock-certs-'))
    mkdirSync(path.join(certs, tls.host))
    writeFileSync(path.join(certs, tls.host, 'ca.crt'), readFileSync(tls.caFile!))
    const client = new RegistryClient(tls.host, { certDirs: [path.join(certs, 'elsewhere'), certs] })
    const m = await client.getManifest('lib/app', 'v1')
    expect(m.digest).toBe(app.manifest.digest)
    expect(m.bytes.equals(app.manifest.bytes)).toBe(true)

    // closeAgents: agents are cached per host (see the known bug below), so start afresh.
    const without = new RegistryClient(tls.host, { certDirs: [path.join(certs, 'elsewhere')] })
    await closeAgents()
    const err = await without.getManifest('lib/app', 'v1').catch((e) => e)
    expect((err as AirlockError).code).toBe('TLS_FAILED')
  })

  it('certDirs is honoured even after a client without them talked to the same host', async () => {
    await closeAgents()
    const certs = await mkdtemp(path.join(tmpdir(), 'airlock-certs-'))
    mkdirSync(path.join(certs, tls.host))
    writeFileSync(path.join(certs, tls.host, 'ca.crt'), readFileSync(tls.caFile!))
    const first = await new RegistryClient(tls.host, { certDirs: [] })
      .getManifest('lib/app', 'v1')
      .catch((e) => e)
    expect((first as AirlockError).code).toBe('TLS_FAILED')
    const m = await new RegistryClient(tls.host, { certDirs: [certs] }).getManifest('lib/app', 'v1')
    expect(m.digest).toBe(app.manifest.digest)
  })
})
