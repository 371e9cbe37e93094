import { createCipheriv, createHash } from 'node:crypto'
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { gzip } from 'node:zlib'
import { pack } from 'tar-stream'
import { getAuthHeader, header, registryRequest, type TestRegistry } from './registry.js'

const gzipAsync = promisify(gzip)

export interface GeneratedBlob {
  digest: string
  size: number
  mediaType: string
  bytes: Buffer
}

export interface Platform {
  os: string
  architecture: string
  variant?: string
}

export interface GeneratedImage {
  manifest: GeneratedBlob
  config: GeneratedBlob
  layers: GeneratedBlob[]
  platform: Platform
}

export interface GeneratedIndex {
  index: GeneratedBlob
  images: GeneratedImage[]
}

export type ImageFormat = 'oci' | 'docker'

export const MEDIA_TYPES = {
  oci: {
    manifest: 'application/vnd.oci.image.manifest.v1+json',
    config: 'application/vnd.oci.image.config.v1+json',
    index: 'application/vnd.oci.image.index.v1+json',
    layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
    layerTar: 'application/vnd.oci.image.layer.v1.tar',
  },
  docker: {
    manifest: 'application/vnd.docker.distribution.manifest.v2+json',
    config: 'application/vnd.docker.container.image.v1+json',
    index: 'application/vnd.docker.distribution.manifest.list.v2+json',
    layerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
    layerTar: 'application/vnd.docker.image.rootfs.diff.tar',
  },
} as const

/** Every manifest/index media type, as an Accept header value. */
export const MANIFEST_ACCEPT = [
  MEDIA_TYPES.oci.manifest,
  MEDIA_TYPES.oci.index,
  MEDIA_TYPES.docker.manifest,
  MEDIA_TYPES.docker.index,
].join(', ')

/** Indentation used for generated manifests, so any re-serialization by the code under test shows. */
export const MANIFEST_INDENT = 3

const CREATED = '2024-01-01T00:00:00Z'
const TAR_MTIME = new Date('2024-01-01T00:00:00Z')

export function sha256Digest(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`
}

export function blob(bytes: Buffer, mediaType: string): GeneratedBlob {
  return { digest: sha256Digest(bytes), size: bytes.length, mediaType, bytes }
}

function descriptor(b: GeneratedBlob) {
  return { mediaType: b.mediaType, digest: b.digest, size: b.size }
}

function platformKey(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`
}

function platformJson(p: Platform): Platform {
  return p.variant
    ? { architecture: p.architecture, os: p.os, variant: p.variant }
    : { architecture: p.architecture, os: p.os }
}

/** Deterministic pseudo-random bytes: AES-128-CTR keystream with a key derived from `label`. */
export function pseudoRandomBytes(size: number, label: string): Buffer {
  if (size === 0) return Buffer.alloc(0)
  const key = createHash('sha256').update(label).digest().subarray(0, 16)
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16))
  const out = cipher.update(Buffer.alloc(size))
  cipher.final()
  return out
}

async function makeTar(entries: Array<{ name: string; data: Buffer }>): Promise<Buffer> {
  const p = pack()
  const chunks: Buffer[] = []
  const collected = (async () => {
    for await (const chunk of p) chunks.push(chunk as Buffer)
  })()
  const common = { mtime: TAR_MTIME, uid: 0, gid: 0, uname: 'root', gname: 'root' }
  p.entry({ ...common, name: 'airlock-test/', type: 'directory', mode: 0o755 })
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      p.entry({ ...common, name: e.name, type: 'file', mode: 0o644, size: e.data.length }, e.data, (err) =>
        err ? reject(err) : resolve(),
      )
    })
  }
  p.finalize()
  await collected
  return Buffer.concat(chunks)
}

export interface MakeImageOptions {
  /** Size in bytes of the pseudo-random file inside each layer (≈ the compressed blob size). */
  layerSizes: number[]
  format?: ImageFormat
  /** Default linux/amd64. */
  platform?: Platform
  /** Default 1. Same options + seed ⇒ identical bytes; different seeds ⇒ different digests. */
  seed?: number
  /** gzip layers (default true, zlib level 1). */
  compress?: boolean
}

export async function makeImage(opts: MakeImageOptions): Promise<GeneratedImage> {
  const format = opts.format ?? 'oci'
  const platform = opts.platform ?? { os: 'linux', architecture: 'amd64' }
  const seed = opts.seed ?? 1
  const compress = opts.compress ?? true
  const mt = MEDIA_TYPES[format]

  const layers: GeneratedBlob[] = []
  const diffIds: string[] = []
  for (const [i, size] of opts.layerSizes.entries()) {
    if (!Number.isInteger(size) || size < 0) throw new Error(`makeImage: bad layer size ${size}`)
    const label = `airlock-test-layer:${seed}:${platformKey(platform)}:${i}`
    const tar = await makeTar([
      { name: `airlock-test/layer-${i}.txt`, data: Buffer.from(`${label}\n`) },
      { name: `airlock-test/layer-${i}.bin`, data: pseudoRandomBytes(size, label) },
    ])
    diffIds.push(sha256Digest(tar))
    layers.push(compress ? blob(await gzipAsync(tar, { level: 1 }), mt.layerGzip) : blob(tar, mt.layerTar))
  }

  const configJson = {
    created: CREATED,
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: ['/bin/sh'],
      Labels: { 'org.airlock.test.seed': String(seed), 'org.airlock.test.platform': platformKey(platform) },
    },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: opts.layerSizes.map((size, i) => ({
      created: CREATED,
      created_by: `airlock-test layer ${i}: ${size} pseudo-random bytes`,
    })),
  }
  const config = blob(Buffer.from(JSON.stringify(configJson, null, MANIFEST_INDENT)), mt.config)

  const manifestJson = {
    schemaVersion: 2,
    mediaType: mt.manifest,
    config: descriptor(config),
    layers: layers.map(descriptor),
  }
  const manifest = blob(Buffer.from(JSON.stringify(manifestJson, null, MANIFEST_INDENT)), mt.manifest)
  return { manifest, config, layers, platform: platformJson(platform) }
}

/** The image config's rootfs.diff_ids: the layers as an engine lists them (uncompressed digests). */
export function diffIdsOf(img: GeneratedImage): string[] {
  return JSON.parse(img.config.bytes.toString('utf8')).rootfs.diff_ids
}

/**
 * Images as the tags of one real repository are: `count` images on the same base layers
 * (`makeImage({ layerSizes: baseSizes, seed })`'s layers), each with one layer of its own on top.
 */
export async function makeImagesSharingBase(opts: {
  count: number
  baseSizes: number[]
  topSize: number
  seed?: number
  /** Seeds of the top layers start here (default seed × 1000); vary it for other repositories. */
  topSeed?: number
  format?: ImageFormat
}): Promise<GeneratedImage[]> {
  const format = opts.format ?? 'oci'
  const mt = MEDIA_TYPES[format]
  const seed = opts.seed ?? 1
  const base = await makeImage({ layerSizes: opts.baseSizes, seed, format })
  const out: GeneratedImage[] = []
  for (let i = 0; i < opts.count; i++) {
    const top = await makeImage({
      layerSizes: [opts.topSize],
      seed: (opts.topSeed ?? seed * 1000) + i + 1,
      format,
    })
    const layers = [...base.layers, ...top.layers]
    const config = JSON.parse(base.config.bytes.toString('utf8'))
    config.rootfs.diff_ids = [...diffIdsOf(base), ...diffIdsOf(top)]
    config.config.Labels['org.airlock.test.tag'] = String(i)
    config.history = layers.map((_, n) => ({ created: CREATED, created_by: `layer ${n}` }))
    const configBlob = blob(Buffer.from(JSON.stringify(config, null, MANIFEST_INDENT)), mt.config)
    const manifestJson = {
      schemaVersion: 2,
      mediaType: mt.manifest,
      config: descriptor(configBlob),
      layers: layers.map(descriptor),
    }
    const manifest = blob(Buffer.from(JSON.stringify(manifestJson, null, MANIFEST_INDENT)), mt.manifest)
    out.push({ manifest, config: configBlob, layers, platform: base.platform })
  }
  return out
}

export interface MakeIndexOptions {
  platforms: Platform[]
  layerSizes: number[]
  format?: ImageFormat
  seed?: number
}

/** A multi-platform index; each child image equals makeImage({ ...opts, platform }). Layers differ per platform. */
export async function makeIndex(opts: MakeIndexOptions): Promise<GeneratedIndex> {
  const format = opts.format ?? 'oci'
  const mt = MEDIA_TYPES[format]
  const images: GeneratedImage[] = []
  for (const platform of opts.platforms) {
    images.push(await makeImage({ layerSizes: opts.layerSizes, format, platform, seed: opts.seed }))
  }
  const indexJson = {
    schemaVersion: 2,
    mediaType: mt.index,
    manifests: images.map((img) => ({ ...descriptor(img.manifest), platform: img.platform })),
  }
  const index = blob(Buffer.from(JSON.stringify(indexJson, null, MANIFEST_INDENT)), mt.index)
  return { index, images }
}

export type LayoutItem = { tag: string; image?: GeneratedImage; index?: GeneratedIndex }

function itemImages(item: GeneratedImage | GeneratedIndex): GeneratedImage[] {
  return 'index' in item ? item.images : [item]
}

function itemTop(item: GeneratedImage | GeneratedIndex): GeneratedBlob {
  return 'index' in item ? item.index : item.manifest
}

function allBlobs(item: GeneratedImage | GeneratedIndex): GeneratedBlob[] {
  const out: GeneratedBlob[] = []
  for (const img of itemImages(item)) out.push(img.config, ...img.layers, img.manifest)
  if ('index' in item) out.push(item.index)
  return out
}

const REF_NAME = 'org.opencontainers.image.ref.name'

interface OciIndexEntry {
  mediaType: string
  digest: string
  size: number
  platform?: Platform
  annotations?: Record<string, string>
}

/**
 * Write (or add to) a standard OCI image layout: `oci-layout`, `index.json` with one entry per tag
 * (annotation org.opencontainers.image.ref.name; an existing entry with the same tag is replaced) and
 * `blobs/sha256/<hex>`.
 */
export async function writeOciLayout(dir: string, items: LayoutItem[]): Promise<void> {
  const blobDir = path.join(dir, 'blobs', 'sha256')
  await mkdir(blobDir, { recursive: true })
  await writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }))

  const indexPath = path.join(dir, 'index.json')
  let manifests: OciIndexEntry[] = []
  try {
    manifests =
      (JSON.parse(await readFile(indexPath, 'utf8')) as { manifests?: OciIndexEntry[] }).manifests ?? []
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }

  for (const item of items) {
    const content = item.image ?? item.index
    if (!content || (item.image && item.index)) {
      throw new Error(`writeOciLayout: item ${item.tag} needs exactly one of image / index`)
    }
    for (const b of allBlobs(content)) {
      const file = path.join(blobDir, b.digest.slice('sha256:'.length))
      const existing = await stat(file).catch(() => undefined)
      if (existing?.size !== b.size) await writeFile(file, b.bytes)
    }
    const top = itemTop(content)
    const entry: OciIndexEntry = { ...descriptor(top) }
    if (item.image) entry.platform = item.image.platform
    entry.annotations = { [REF_NAME]: item.tag }
    manifests = manifests.filter((m) => m.annotations?.[REF_NAME] !== item.tag)
    manifests.push(entry)
  }

  const indexJson = { schemaVersion: 2, mediaType: MEDIA_TYPES.oci.index, manifests }
  await writeFile(indexPath, JSON.stringify(indexJson, null, 2))
}

// ---------------------------------------------------------------------------------------------------------
// Minimal raw registry client (independent of the code under test)
// ---------------------------------------------------------------------------------------------------------

function explain(res: { status: number; body: Buffer }): string {
  return `${res.status} ${res.body.toString('utf8').slice(0, 500)}`
}

async function pushBlob(reg: TestRegistry, repo: string, b: GeneratedBlob, authorization?: string) {
  const head = await registryRequest(reg, `/v2/${repo}/blobs/${b.digest}`, { method: 'HEAD', authorization })
  if (head.status === 200) return
  const start = await registryRequest(reg, `/v2/${repo}/blobs/uploads/`, {
    method: 'POST',
    authorization,
    body: Buffer.alloc(0),
  })
  const location = header(start, 'location')
  if (start.status !== 202 || !location) {
    throw new Error(`pushRaw: POST /v2/${repo}/blobs/uploads/ → ${explain(start)}`)
  }
  const put = new URL(location, reg.url)
  put.searchParams.set('digest', b.digest)
  const res = await registryRequest(reg, put.href, {
    method: 'PUT',
    authorization,
    headers: { 'Content-Type': 'application/octet-stream' },
    body: b.bytes,
  })
  if (res.status !== 201) throw new Error(`pushRaw: PUT blob ${b.digest} to ${repo} → ${explain(res)}`)
}

async function putManifest(
  reg: TestRegistry,
  repo: string,
  ref: string,
  m: GeneratedBlob,
  authorization?: string,
) {
  const res = await registryRequest(reg, `/v2/${repo}/manifests/${ref}`, {
    method: 'PUT',
    authorization,
    headers: { 'Content-Type': m.mediaType },
    body: m.bytes,
  })
  if (res.status !== 201) throw new Error(`pushRaw: PUT manifest ${repo}:${ref} → ${explain(res)}`)
  const digest = header(res, 'docker-content-digest')
  if (digest !== m.digest) {
    throw new Error(`pushRaw: registry computed digest ${digest} for ${repo}:${ref}, expected ${m.digest}`)
  }
}

/** Push an image or index: blobs (monolithic upload), child manifests by digest, then the tag. */
export async function pushRaw(
  reg: TestRegistry,
  repo: string,
  tag: string,
  item: GeneratedImage | GeneratedIndex,
): Promise<void> {
  const authorization = await getAuthHeader(reg, [`repository:${repo}:pull,push`])
  for (const img of itemImages(item)) {
    for (const b of [img.config, ...img.layers]) await pushBlob(reg, repo, b, authorization)
  }
  if ('index' in item) {
    for (const img of item.images)
      await putManifest(reg, repo, img.manifest.digest, img.manifest, authorization)
    await putManifest(reg, repo, tag, item.index, authorization)
  } else {
    await putManifest(reg, repo, tag, item.manifest, authorization)
  }
}

export interface RawManifest {
  status: number
  bytes: Buffer
  digest?: string
  contentType?: string
}

/** GET a manifest (by tag or digest) accepting every manifest/index media type. */
export async function fetchManifestRaw(reg: TestRegistry, repo: string, ref: string): Promise<RawManifest> {
  const res = await registryRequest(reg, `/v2/${repo}/manifests/${ref}`, {
    scopes: [`repository:${repo}:pull`],
    headers: { Accept: MANIFEST_ACCEPT },
  })
  const out: RawManifest = { status: res.status, bytes: res.body }
  const digest = header(res, 'docker-content-digest')
  const contentType = header(res, 'content-type')
  if (digest !== undefined) out.digest = digest
  if (contentType !== undefined) out.contentType = contentType
  return out
}

/** HEAD a blob: true on 200, false on 404, throws on anything else. */
export async function blobExistsRaw(reg: TestRegistry, repo: string, digest: string): Promise<boolean> {
  const res = await registryRequest(reg, `/v2/${repo}/blobs/${digest}`, {
    method: 'HEAD',
    scopes: [`repository:${repo}:pull`],
  })
  if (res.status === 200) return true
  if (res.status === 404) return false
  throw new Error(`blobExistsRaw: HEAD /v2/${repo}/blobs/${digest} → ${res.status}`)
}
