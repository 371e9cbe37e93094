import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { gunzipSync } from 'node:zlib'
import { extract } from 'tar-stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { header, httpRequest } from '../helpers/http.js'
import {
  blobExistsRaw,
  fetchManifestRaw,
  type GeneratedImage,
  MEDIA_TYPES,
  makeImage,
  makeIndex,
  pushRaw,
  sha256Digest,
  writeOciLayout,
} from '../helpers/images.js'
import { freePort } from '../helpers/ports.js'
import {
  libtrustKeyId,
  registryRequest,
  startRegistry,
  type TestRegistry,
  TOKEN_ISSUER,
  TOKEN_SERVICE,
} from '../helpers/registry.js'
import { skopeo, skopeoRegistryFlags } from '../helpers/skopeo.js'

const sha256Hex = (b: Buffer) => createHash('sha256').update(b).digest('hex')
const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`

async function tarEntries(tar: Buffer): Promise<Map<string, { type: string; data: Buffer }>> {
  const out = new Map<string, { type: string; data: Buffer }>()
  const ex = extract()
  const done = (async () => {
    for await (const entry of ex) {
      const chunks: Buffer[] = []
      for await (const c of entry) chunks.push(c as Buffer)
      out.set(entry.header.name, { type: entry.header.type ?? 'file', data: Buffer.concat(chunks) })
    }
  })()
  ex.end(tar)
  await done
  return out
}

function decodeJwtPart(token: string, i: number): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[i]!, 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >
}

describe('generated images', () => {
  it('are deterministic per seed, differ across seeds, and use 3-space manifests', async () => {
    const a = await makeImage({ layerSizes: [1000, 2000], seed: 7 })
    const b = await makeImage({ layerSizes: [1000, 2000], seed: 7 })
    const c = await makeImage({ layerSizes: [1000, 2000], seed: 8 })
    const empty1 = await makeImage({ layerSizes: [], seed: 1 })
    const empty2 = await makeImage({ layerSizes: [], seed: 2 })

    expect(b.manifest.digest).toBe(a.manifest.digest)
    expect(b.manifest.bytes.equals(a.manifest.bytes)).toBe(true)
    expect(c.manifest.digest).not.toBe(a.manifest.digest)
    expect(c.layers[0]!.digest).not.toBe(a.layers[0]!.digest)
    expect(a.layers[0]!.digest).not.toBe(a.layers[1]!.digest)
    expect(empty1.manifest.digest).not.toBe(empty2.manifest.digest)

    const text = a.manifest.bytes.toString('utf8')
    expect(text.startsWith('{\n   "schemaVersion": 2,\n   "mediaType": ')).toBe(true)
    expect(a.manifest.digest).toBe(`sha256:${sha256Hex(a.manifest.bytes)}`)
    expect(a.manifest.size).toBe(a.manifest.bytes.length)
    const parsed = JSON.parse(text)
    expect(parsed).toEqual({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: a.config.digest,
        size: a.config.size,
      },
      layers: a.layers.map((l) => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        digest: l.digest,
        size: l.size,
      })),
    })
    expect(a.platform).toEqual({ os: 'linux', architecture: 'amd64' })
  })

  it('layers are real gzipped tars whose diff_ids are in the config', async () => {
    const img = await makeImage({ layerSizes: [123_456, 0], seed: 3 })
    const config = JSON.parse(img.config.bytes.toString('utf8'))
    expect(config.architecture).toBe('amd64')
    expect(config.os).toBe('linux')
    expect(config.rootfs.type).toBe('layers')
    expect(config.history).toHaveLength(2)

    for (const [i, layer] of img.layers.entries()) {
      expect(layer.bytes.subarray(0, 2).equals(Buffer.from([0x1f, 0x8b]))).toBe(true)
      const tar = gunzipSync(layer.bytes)
      expect(config.rootfs.diff_ids[i]).toBe(sha256Digest(tar))
      const entries = await tarEntries(tar)
      expect([...entries.keys()]).toEqual([
        'airlock-test/',
        `airlock-test/layer-${i}.txt`,
        `airlock-test/layer-${i}.bin`,
      ])
      expect(entries.get(`airlock-test/layer-${i}.bin`)!.data.length).toBe(i === 0 ? 123_456 : 0)
    }
    // Random content does not compress: the blob is about the requested size.
    expect(img.layers[0]!.size).toBeGreaterThan(123_456)
    expect(img.layers[0]!.size).toBeLessThan(123_456 + 4096)
  })

  it('supports docker media types, uncompressed layers, variants and indexes', async () => {
    const docker = await makeImage({
      layerSizes: [10],
      format: 'docker',
      platform: { os: 'linux', architecture: 'arm', variant: 'v7' },
    })
    expect(docker.manifest.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json')
    expect(docker.config.mediaType).toBe('application/vnd.docker.container.image.v1+json')
    expect(docker.layers[0]!.mediaType).toBe('application/vnd.docker.image.rootfs.diff.tar.gzip')
    expect(JSON.parse(docker.config.bytes.toString()).variant).toBe('v7')
    expect(docker.platform).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' })

    const plain = await makeImage({ layerSizes: [10], compress: false })
    expect(plain.layers[0]!.mediaType).toBe('application/vnd.oci.image.layer.v1.tar')
    expect(JSON.parse(plain.config.bytes.toString()).rootfs.diff_ids[0]).toBe(plain.layers[0]!.digest)

    const idx = await makeIndex({
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64', variant: 'v8' },
      ],
      layerSizes: [100],
      format: 'docker',
    })
    expect(idx.index.mediaType).toBe('application/vnd.docker.distribution.manifest.list.v2+json')
    expect(JSON.parse(idx.index.bytes.toString())).toEqual({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json',
      manifests: [
        {
          mediaType: MEDIA_TYPES.docker.manifest,
          digest: idx.images[0]!.manifest.digest,
          size: idx.images[0]!.manifest.size,
          platform: { architecture: 'amd64', os: 'linux' },
        },
        {
          mediaType: MEDIA_TYPES.docker.manifest,
          digest: idx.images[1]!.manifest.digest,
          size: idx.images[1]!.manifest.size,
          platform: { architecture: 'arm64', os: 'linux', variant: 'v8' },
        },
      ],
    })
    expect(idx.images[0]!.layers[0]!.digest).not.toBe(idx.images[1]!.layers[0]!.digest)
  })

  it('libtrustKeyId produces 12 colon-separated groups of 4 base32 chars', () => {
    const kid = libtrustKeyId(Buffer.from('anything'))
    expect(kid).toMatch(/^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/)
    expect(libtrustKeyId(Buffer.from('anything'))).toBe(kid)
    expect(libtrustKeyId(Buffer.from('other'))).not.toBe(kid)
  })
})

describe('freePort', () => {
  it('returns distinct usable ports', async () => {
    const a = await freePort()
    const b = await freePort()
    expect(a).toBeGreaterThan(0)
    expect(a).toBeLessThan(65536)
    expect(Number.isInteger(b)).toBe(true)
  })
})

describe.each(['none', 'htpasswd', 'token'] as const)('registry with auth=%s', (auth) => {
  let reg: TestRegistry
  let image: GeneratedImage

  beforeAll(async () => {
    reg = await startRegistry({ auth })
    image = await makeImage({ layerSizes: [4096, 70_000], seed: 11 })
  })
  afterAll(async () => {
    await reg?.stop()
  })

  it('starts and answers GET /v2/', async () => {
    expect(reg.host).toMatch(/^127\.0\.0\.1:\d+$/)
    expect(reg.url).toBe(`http://${reg.host}`)
    expect(reg.auth).toBe(auth)
    const res = await httpRequest(`${reg.url}/v2/`)
    if (auth === 'none') {
      expect(res.status).toBe(200)
      expect(reg.username).toBeUndefined()
    } else {
      expect(res.status).toBe(401)
      expect(reg.username).toBe('testuser')
      expect(reg.password).toBe('testpass')
    }
    const challenge = header(res, 'www-authenticate')
    if (auth === 'htpasswd') expect(challenge).toBe('Basic realm="test-registry"')
    if (auth === 'token') {
      expect(reg.tokenServer!.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/service\/token$/)
      expect(challenge).toBe(`Bearer realm="${reg.tokenServer!.url}",service="${TOKEN_SERVICE}"`)
    }
  })

  it('pushRaw then fetchManifestRaw returns the exact bytes and digest', async () => {
    await pushRaw(reg, 'harness/single', 'v1', image)
    const got = await fetchManifestRaw(reg, 'harness/single', 'v1')
    expect(got.status).toBe(200)
    expect(got.bytes.equals(image.manifest.bytes)).toBe(true)
    expect(got.digest).toBe(image.manifest.digest)
    expect(got.digest).toBe(`sha256:${sha256Hex(got.bytes)}`)
    expect(got.contentType).toBe('application/vnd.oci.image.manifest.v1+json')

    const byDigest = await fetchManifestRaw(reg, 'harness/single', image.manifest.digest)
    expect(byDigest.status).toBe(200)
    expect(byDigest.bytes.equals(image.manifest.bytes)).toBe(true)

    const missing = await fetchManifestRaw(reg, 'harness/single', 'nope')
    expect(missing.status).toBe(404)

    for (const b of [image.config, ...image.layers]) {
      expect(await blobExistsRaw(reg, 'harness/single', b.digest)).toBe(true)
      const onDisk = await readFile(reg.blobPath(b.digest))
      expect(onDisk.equals(b.bytes)).toBe(true)
    }
    expect(await blobExistsRaw(reg, 'harness/single', `sha256:${'0'.repeat(64)}`)).toBe(false)
  })

  it('skopeo inspect --raw sees the same bytes', async () => {
    await pushRaw(reg, 'harness/skopeo', 'v1', image)
    const sk = await skopeo([
      'inspect',
      '--raw',
      ...skopeoRegistryFlags(reg),
      `docker://${reg.host}/harness/skopeo:v1`,
    ])
    expect(sk.code, sk.stderr).toBe(0)
    expect(sk.stdoutBytes.equals(image.manifest.bytes)).toBe(true)
    expect(sk.stdout).toBe(image.manifest.bytes.toString('utf8'))
    if (auth === 'token') {
      const issued = reg.tokenServer!.issued
      expect(issued.length).toBeGreaterThan(0)
      const last = issued[issued.length - 1]!
      expect(last.user).toBe('testuser')
      expect(last.scope).toEqual(['repository:harness/skopeo:pull'])
      expect(last.access).toEqual([{ type: 'repository', name: 'harness/skopeo', actions: ['pull'] }])
    }
  })

  it('round-trips an index with two platforms', async () => {
    const idx = await makeIndex({
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64', variant: 'v8' },
      ],
      layerSizes: [3000],
      seed: 21,
    })
    await pushRaw(reg, 'harness/multi', 'latest', idx)
    const top = await fetchManifestRaw(reg, 'harness/multi', 'latest')
    expect(top.status).toBe(200)
    expect(top.bytes.equals(idx.index.bytes)).toBe(true)
    expect(top.digest).toBe(idx.index.digest)
    expect(top.contentType).toBe('application/vnd.oci.image.index.v1+json')
    for (const child of idx.images) {
      const got = await fetchManifestRaw(reg, 'harness/multi', child.manifest.digest)
      expect(got.status).toBe(200)
      expect(got.bytes.equals(child.manifest.bytes)).toBe(true)
      expect(got.digest).toBe(child.manifest.digest)
      expect(await blobExistsRaw(reg, 'harness/multi', child.layers[0]!.digest)).toBe(true)
    }
    const sk = await skopeo([
      'inspect',
      '--raw',
      ...skopeoRegistryFlags(reg),
      `docker://${reg.host}/harness/multi:latest`,
    ])
    expect(sk.code, sk.stderr).toBe(0)
    expect(sk.stdoutBytes.equals(idx.index.bytes)).toBe(true)

    const dockerIdx = await makeIndex({
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'ppc64le' },
      ],
      layerSizes: [100],
      format: 'docker',
      seed: 22,
    })
    await pushRaw(reg, 'harness/multi-docker', 'v2', dockerIdx)
    const dtop = await fetchManifestRaw(reg, 'harness/multi-docker', 'v2')
    expect(dtop.bytes.equals(dockerIdx.index.bytes)).toBe(true)
    expect(dtop.contentType).toBe('application/vnd.docker.distribution.manifest.list.v2+json')
  })

  it('refuses a wrong password with 401 (auth variants) / ignores credentials (none)', async () => {
    if (auth === 'none') {
      const res = await httpRequest(`${reg.url}/v2/`, {
        headers: { Authorization: basic('testuser', 'wrong') },
      })
      expect(res.status).toBe(200)
      return
    }
    if (auth === 'htpasswd') {
      const res = await httpRequest(`${reg.url}/v2/`, {
        headers: { Authorization: basic('testuser', 'wrong') },
      })
      expect(res.status).toBe(401)
      const ok = await httpRequest(`${reg.url}/v2/`, {
        headers: { Authorization: basic('testuser', 'testpass') },
      })
      expect(ok.status).toBe(200)
    } else {
      const url = `${reg.tokenServer!.url}?service=${TOKEN_SERVICE}&scope=repository:harness/single:pull`
      const res = await httpRequest(url, { headers: { Authorization: basic('testuser', 'wrong') } })
      expect(res.status).toBe(401)
      const unknownUser = await httpRequest(url, { headers: { Authorization: basic('mallory', 'testpass') } })
      expect(unknownUser.status).toBe(401)
    }
    const sk = await skopeo([
      'inspect',
      '--raw',
      '--tls-verify=false',
      '--creds',
      'testuser:wrong',
      `docker://${reg.host}/harness/single:v1`,
    ])
    expect(sk.code).toBe(1)
    expect(sk.stdout).toBe('')
    expect(sk.stderr).toMatch(/unauthorized|authentication required|401/i)
  })

  if (auth !== 'token') return
  it('issues RS256 JWTs with the requested access, none for anonymous', async () => {
    const ts = reg.tokenServer!
    const before = ts.issued.length
    const url = new URL(ts.url)
    url.searchParams.set('service', TOKEN_SERVICE)
    url.searchParams.append('scope', 'repository:harness/single:pull,push')
    url.searchParams.append('scope', 'repository:harness/other:pull')
    const res = await httpRequest(url, { headers: { Authorization: basic('testuser', 'testpass') } })
    expect(res.status).toBe(200)
    const body = JSON.parse(res.body.toString('utf8'))
    expect(body.access_token).toBe(body.token)
    expect(body.expires_in).toBe(300)
    expect(typeof body.issued_at).toBe('string')
    const head = decodeJwtPart(body.token, 0)
    expect(head.alg).toBe('RS256')
    expect(head.typ).toBe('JWT')
    expect(head.kid).toMatch(/^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/)
    const claims = decodeJwtPart(body.token, 1)
    expect(claims.iss).toBe(TOKEN_ISSUER)
    expect(claims.aud).toBe(TOKEN_SERVICE)
    expect(claims.sub).toBe('testuser')
    expect((claims.exp as number) - (claims.iat as number)).toBe(300)
    expect(claims.access).toEqual([
      { type: 'repository', name: 'harness/single', actions: ['pull', 'push'] },
      { type: 'repository', name: 'harness/other', actions: ['pull'] },
    ])
    expect(ts.issued.length).toBe(before + 1)
    expect(ts.issued[before]).toEqual({
      scope: ['repository:harness/single:pull,push', 'repository:harness/other:pull'],
      user: 'testuser',
      access: claims.access,
      service: TOKEN_SERVICE,
      method: 'GET',
    })

    // The registry accepts that token (this proves the kid/signature/claims are right) ...
    await pushRaw(reg, 'harness/single', 'v1', image)
    const withToken = await httpRequest(`${reg.url}/v2/harness/single/manifests/v1`, {
      headers: { Authorization: `Bearer ${body.token}`, Accept: MEDIA_TYPES.oci.manifest },
    })
    expect(withToken.status).toBe(200)
    expect(withToken.body.equals(image.manifest.bytes)).toBe(true)

    // ... while an anonymous token grants nothing.
    const anon = await httpRequest(url)
    expect(anon.status).toBe(200)
    const anonToken = JSON.parse(anon.body.toString('utf8')).token as string
    expect(decodeJwtPart(anonToken, 1).access).toEqual([])
    expect(ts.issued[ts.issued.length - 1]!.user).toBeUndefined()
    const refused = await httpRequest(`${reg.url}/v2/harness/single/manifests/v1`, {
      headers: { Authorization: `Bearer ${anonToken}`, Accept: MEDIA_TYPES.oci.manifest },
    })
    expect(refused.status).toBe(401)
    expect(header(refused, 'www-authenticate')).toContain('error="insufficient_scope"')

    // OAuth2 password grant (POST) works too.
    const post = await httpRequest(ts.url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'password',
        username: 'testuser',
        password: 'testpass',
        service: TOKEN_SERVICE,
        scope: 'repository:harness/single:pull',
        client_id: 'airlock',
      }).toString(),
    })
    expect(post.status).toBe(200)
    expect(decodeJwtPart(JSON.parse(post.body.toString()).token, 1).access).toEqual([
      { type: 'repository', name: 'harness/single', actions: ['pull'] },
    ])
  })
})

describe('registry with TLS', () => {
  let reg: TestRegistry
  beforeAll(async () => {
    reg = await startRegistry({ tls: true, auth: 'htpasswd', username: 'alice', password: 's3cret' })
  })
  afterAll(async () => {
    await reg?.stop()
  })

  it('serves HTTPS with a certificate for 127.0.0.1 that verifies against caFile', async () => {
    expect(reg.url).toBe(`https://${reg.host}`)
    expect(reg.caFile).toBe(path.join(reg.certDir!, 'ca.crt'))
    const ca = await readFile(reg.caFile!, 'utf8')
    expect(ca).toContain('-----BEGIN CERTIFICATE-----')
    const res = await httpRequest(`${reg.url}/v2/`, {
      ca,
      headers: { Authorization: basic('alice', 's3cret') },
    })
    expect(res.status).toBe(200)
    await expect(httpRequest(`${reg.url}/v2/`)).rejects.toThrow(/self[- ]signed|certificate/i)

    const img = await makeImage({ layerSizes: [500], format: 'docker', seed: 5 })
    await pushRaw(reg, 'tls/app', '1.0', img)
    const got = await fetchManifestRaw(reg, 'tls/app', '1.0')
    expect(got.bytes.equals(img.manifest.bytes)).toBe(true)
    expect(got.contentType).toBe('application/vnd.docker.distribution.manifest.v2+json')
    const sk = await skopeo([
      'inspect',
      '--raw',
      ...skopeoRegistryFlags(reg),
      `docker://${reg.host}/tls/app:1.0`,
    ])
    expect(sk.code, sk.stderr).toBe(0)
    expect(sk.stdoutBytes.equals(img.manifest.bytes)).toBe(true)
  })
})

describe('large layers and blob corruption support', () => {
  let reg: TestRegistry
  beforeAll(async () => {
    reg = await startRegistry()
  })
  afterAll(async () => {
    await reg?.stop()
  })

  it('generates and pushes a 50 MB layer; blobPath points at the stored data', async () => {
    const size = 50 * 1024 * 1024
    const img = await makeImage({ layerSizes: [size], seed: 99 })
    const layer = img.layers[0]!
    expect(layer.size).toBeGreaterThan(size)
    expect(layer.size).toBeLessThan(size + 64 * 1024)
    await pushRaw(reg, 'big/one', 'v1', img)
    const file = reg.blobPath(layer.digest)
    expect(file).toBe(
      path.join(
        reg.rootDir,
        'docker/registry/v2/blobs/sha256',
        layer.digest.slice(7, 9),
        layer.digest.slice(7),
        'data',
      ),
    )
    expect((await stat(file)).size).toBe(layer.size)
    expect(await blobExistsRaw(reg, 'big/one', layer.digest)).toBe(true)
    const got = await registryRequest(reg, `/v2/big/one/blobs/${img.config.digest}`)
    expect(got.status).toBe(200)
    expect(got.body.equals(img.config.bytes)).toBe(true)
    expect(() => reg.blobPath('sha512:abc')).toThrow(/not a sha256 digest/)
  })
})

describe('writeOciLayout', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'airlock-oci-layout-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('writes a layout that skopeo reads byte-exactly, and merges later writes', async () => {
    const img = await makeImage({ layerSizes: [2048], seed: 31 })
    const idx = await makeIndex({
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 's390x' },
      ],
      layerSizes: [1024],
      seed: 32,
    })
    await writeOciLayout(dir, [
      { tag: 'v1', image: img },
      { tag: 'multi', index: idx },
    ])
    // A second write adds to the same layout; re-using a tag replaces its entry.
    const later = await makeImage({ layerSizes: [10], seed: 33 })
    await writeOciLayout(dir, [
      { tag: 'later', image: later },
      { tag: 'v1', image: img },
    ])

    expect(JSON.parse(await readFile(path.join(dir, 'oci-layout'), 'utf8'))).toEqual({
      imageLayoutVersion: '1.0.0',
    })
    const index = JSON.parse(await readFile(path.join(dir, 'index.json'), 'utf8'))
    expect(index.schemaVersion).toBe(2)
    expect(
      index.manifests.map((m: { annotations: Record<string, string>; digest: string }) => [
        m.annotations['org.opencontainers.image.ref.name'],
        m.digest,
      ]),
    ).toEqual([
      ['multi', idx.index.digest],
      ['later', later.manifest.digest],
      ['v1', img.manifest.digest],
    ])
    const layerFile = path.join(dir, 'blobs/sha256', img.layers[0]!.digest.slice(7))
    expect((await readFile(layerFile)).equals(img.layers[0]!.bytes)).toBe(true)
    expect(existsSync(path.join(dir, 'blobs/sha256', idx.images[1]!.config.digest.slice(7)))).toBe(true)

    const v1 = await skopeo(['inspect', '--raw', `oci:${dir}:v1`])
    expect(v1.code, v1.stderr).toBe(0)
    expect(v1.stdoutBytes.equals(img.manifest.bytes)).toBe(true)
    const multi = await skopeo(['inspect', '--raw', `oci:${dir}:multi`])
    expect(multi.code, multi.stderr).toBe(0)
    expect(multi.stdoutBytes.equals(idx.index.bytes)).toBe(true)
    const second = await skopeo(['inspect', '--raw', `oci:${dir}:later`])
    expect(second.code, second.stderr).toBe(0)
    expect(second.stdoutBytes.equals(later.manifest.bytes)).toBe(true)
    const cfg = await skopeo(['inspect', '--config', '--raw', `oci:${dir}:v1`])
    expect(cfg.code, cfg.stderr).toBe(0)
    expect(cfg.stdoutBytes.equals(img.config.bytes)).toBe(true)
  })
})

describe('registry lifecycle', () => {
  it('stop() kills the registry and removes its storage; it is idempotent', async () => {
    const reg = await startRegistry()
    const root = reg.rootDir
    expect(existsSync(root)).toBe(true)
    const ok = await httpRequest(`${reg.url}/v2/`)
    expect(ok.status).toBe(200)
    await reg.stop()
    await reg.stop()
    expect(existsSync(path.dirname(root))).toBe(false)
    await expect(httpRequest(`${reg.url}/v2/`, { timeoutMs: 2000 })).rejects.toThrow(/ECONNREFUSED/)
  })

  it('reports a registry that fails to start, with its output, and cleans up', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'airlock-fake-registry-'))
    try {
      const fake = path.join(dir, 'fake-registry')
      await writeFile(fake, '#!/bin/sh\necho "boom: cannot parse $2" >&2\nexit 3\n', { mode: 0o755 })
      const started = Date.now()
      await expect(startRegistry({ binary: fake })).rejects.toThrow(
        /fake-registry exited during startup \(code 3, signal null\):\nboom: cannot parse .*config\.yml/,
      )
      await expect(startRegistry({ binary: path.join(dir, 'missing') })).rejects.toThrow(
        /cannot run .*ENOENT/,
      )
      expect(Date.now() - started).toBeLessThan(5000)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('several registries run side by side on distinct ports', async () => {
    const regs = await Promise.all([startRegistry(), startRegistry({ auth: 'htpasswd' })])
    try {
      expect(regs[0]!.host).not.toBe(regs[1]!.host)
      expect(regs[0]!.rootDir).not.toBe(regs[1]!.rootDir)
      expect((await httpRequest(`${regs[0]!.url}/v2/`)).status).toBe(200)
      expect((await httpRequest(`${regs[1]!.url}/v2/`)).status).toBe(401)
    } finally {
      await Promise.all(regs.map((r) => r.stop()))
    }
  })
})
