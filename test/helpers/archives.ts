/**
 * Archive fixtures, written the way the real tools write them (no downloads):
 *
 * - writeLegacyDockerArchive: `docker save` of Docker 1.10 .. 24 (moby image/tarexport/save.go before
 *   v25): `<v1 id>/layer.tar` (uncompressed), `<v1 id>/json`, `<v1 id>/VERSION`, `<config hex>.json`,
 *   `manifest.json`, `repositories`; a layer whose diff ID appeared before is a symlink
 *   `<v1 id>/layer.tar -> ../<first v1 id>/layer.tar`.
 * - writeDocker25Archive: `docker save` of Docker >= 25 (save.go from v25): an OCI image layout
 *   (`oci-layout`, `index.json` with io.containerd.image.name and ref.name = tag, `blobs/sha256/…`)
 *   plus `manifest.json` whose Config and Layers point into blobs/, and `repositories`.
 * - writeTar: any members, including hostile ones (`..`, absolute names, escaping links).
 */
import { createHash } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { pack } from 'tar-stream'
import { blob, diffIdsOf, type GeneratedImage, MANIFEST_INDENT, MEDIA_TYPES, sha256Digest } from './images.js'

export interface TarMember {
  name: string
  data?: Buffer
  type?: 'file' | 'directory' | 'symlink' | 'link'
  linkname?: string
}

const EPOCH = new Date(0)

/** A tar of `members` in order, names written exactly as given. */
export async function tarBytes(members: TarMember[]): Promise<Buffer> {
  const p = pack()
  const chunks: Buffer[] = []
  const collected = (async () => {
    for await (const c of p) chunks.push(c as Buffer)
  })()
  for (const m of members) {
    const type = m.type ?? 'file'
    const header = {
      name: m.name,
      type,
      mode: type === 'directory' ? 0o755 : 0o644,
      mtime: EPOCH,
      uid: 0,
      gid: 0,
      ...(m.linkname ? { linkname: m.linkname } : {}),
      ...(type === 'file' ? { size: m.data?.length ?? 0 } : {}),
    }
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve())
      if (type === 'file') p.entry(header, m.data ?? Buffer.alloc(0), cb)
      else p.entry(header, cb)
    })
  }
  p.finalize()
  await collected
  return Buffer.concat(chunks)
}

export async function writeTar(path: string, members: TarMember[]): Promise<void> {
  await writeFile(path, await tarBytes(members))
}

const hex = (digest: string) => digest.slice('sha256:'.length)

function assertUncompressed(img: GeneratedImage): void {
  const ids = diffIdsOf(img)
  img.layers.forEach((l, i) => {
    if (l.digest !== ids[i])
      throw new Error('docker save archives hold uncompressed layers: makeImage({ compress: false })')
  })
}

/** Familiar form as docker writes RepoTags (`alpine:latest`, `localhost:5000/x:1`). */
function familiar(tag: string): string {
  return tag.replace(/^docker\.io\/library\/(?=[^/]+$)/, '').replace(/^docker\.io\//, '')
}

function repositories(items: Array<{ repoTags: string[]; top: string }>): Buffer {
  const repos: Record<string, Record<string, string>> = {}
  for (const it of items) {
    for (const t of it.repoTags) {
      const i = t.lastIndexOf(':')
      repos[familiar(t.slice(0, i))] = { ...repos[familiar(t.slice(0, i))], [t.slice(i + 1)]: it.top }
    }
  }
  return Buffer.from(`${JSON.stringify(repos)}\n`)
}

export interface ArchiveImage {
  /** Made with makeImage({ compress: false }) (or repeatFirstLayer of one). */
  image: GeneratedImage
  /** Full names with tags, e.g. docker.io/library/alpine:latest. */
  repoTags: string[]
}

/** A Docker 1.10 .. 24 `docker save` archive. */
export async function writeLegacyDockerArchive(path: string, items: ArchiveImage[]): Promise<void> {
  const members: TarMember[] = []
  const manifest: Array<{ Config: string; RepoTags: string[]; Layers: string[] }> = []
  const firstPath = new Map<string, string>() // diff ID -> first layer.tar written for it
  const tops: Array<{ repoTags: string[]; top: string }> = []
  for (const { image, repoTags } of items) {
    assertUncompressed(image)
    let parent = ''
    const layers: string[] = []
    for (const layer of image.layers) {
      const id = createHash('sha256').update(`${parent} ${layer.digest}`).digest('hex') // stands in for v1.CreateID
      const json = Buffer.from(
        JSON.stringify({ id, ...(parent ? { parent } : {}), created: '1970-01-01T00:00:00Z' }),
      )
      members.push({ name: `${id}/`, type: 'directory' }, { name: `${id}/VERSION`, data: Buffer.from('1.0') })
      members.push({ name: `${id}/json`, data: json })
      const first = firstPath.get(layer.digest)
      if (first) members.push({ name: `${id}/layer.tar`, type: 'symlink', linkname: `../${first}` })
      else {
        members.push({ name: `${id}/layer.tar`, data: layer.bytes })
        firstPath.set(layer.digest, `${id}/layer.tar`)
      }
      layers.push(`${id}/layer.tar`)
      parent = id
    }
    members.push({ name: `${hex(image.config.digest)}.json`, data: image.config.bytes })
    manifest.push({
      Config: `${hex(image.config.digest)}.json`,
      RepoTags: repoTags.map(familiar),
      Layers: layers,
    })
    tops.push({ repoTags, top: parent })
  }
  members.push({ name: 'manifest.json', data: Buffer.from(`${JSON.stringify(manifest)}\n`) })
  members.push({ name: 'repositories', data: repositories(tops) })
  await writeTar(path, members)
}

/** A Docker >= 25 `docker save` archive: OCI layout + manifest.json pointing into blobs/. */
export async function writeDocker25Archive(path: string, items: ArchiveImage[]): Promise<void> {
  const blobs = new Map<string, Buffer>()
  const manifest: Array<{ Config: string; RepoTags: string[]; Layers: string[]; LayerSources: null }> = []
  const index: Array<Record<string, unknown>> = []
  for (const { image, repoTags } of items) {
    assertUncompressed(image)
    blobs.set(image.config.digest, image.config.bytes)
    for (const l of image.layers) blobs.set(l.digest, l.bytes)
    const oci = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.oci.manifest,
        config: { mediaType: MEDIA_TYPES.oci.config, digest: image.config.digest, size: image.config.size },
        layers: image.layers.map((l) => ({
          mediaType: MEDIA_TYPES.oci.layerTar,
          digest: l.digest,
          size: l.size,
        })),
      }),
    )
    const m = blob(oci, MEDIA_TYPES.oci.manifest)
    blobs.set(m.digest, oci)
    for (const t of repoTags) {
      index.push({
        mediaType: m.mediaType,
        digest: m.digest,
        size: m.size,
        platform: image.platform,
        annotations: {
          'io.containerd.image.name': t,
          'org.opencontainers.image.ref.name': t.slice(t.lastIndexOf(':') + 1),
        },
      })
    }
    manifest.push({
      Config: `blobs/sha256/${hex(image.config.digest)}`,
      RepoTags: repoTags.map(familiar),
      Layers: image.layers.map((l) => `blobs/sha256/${hex(l.digest)}`),
      LayerSources: null,
    })
  }
  const members: TarMember[] = [
    { name: 'blobs/', type: 'directory' },
    { name: 'blobs/sha256/', type: 'directory' },
  ]
  for (const [d, bytes] of [...blobs].sort(([a], [b]) => a.localeCompare(b))) {
    members.push({ name: `blobs/sha256/${hex(d)}`, data: bytes })
  }
  const idx = { schemaVersion: 2, mediaType: MEDIA_TYPES.oci.index, manifests: index }
  members.push({ name: 'index.json', data: Buffer.from(JSON.stringify(idx)) })
  members.push({ name: 'manifest.json', data: Buffer.from(`${JSON.stringify(manifest)}\n`) })
  members.push({ name: 'oci-layout', data: Buffer.from('{"imageLayoutVersion":"1.0.0"}') })
  const tops = items.map((it) => ({ repoTags: it.repoTags, top: hex(it.image.layers.at(-1)?.digest ?? '') }))
  members.push({ name: 'repositories', data: repositories(tops) })
  await writeTar(path, members)
}

/** The image with its first layer repeated on top (same diff ID twice, as `docker save` dedups). */
export function repeatFirstLayer(img: GeneratedImage): GeneratedImage {
  const config = JSON.parse(img.config.bytes.toString())
  config.rootfs.diff_ids.push(config.rootfs.diff_ids[0])
  config.history.push({ created: config.created, created_by: 'airlock-test: first layer again' })
  const configBlob = blob(Buffer.from(JSON.stringify(config, null, MANIFEST_INDENT)), img.config.mediaType)
  const layers = [...img.layers, img.layers[0]]
  const manifest = JSON.parse(img.manifest.bytes.toString())
  manifest.config = { mediaType: configBlob.mediaType, digest: configBlob.digest, size: configBlob.size }
  manifest.layers = layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size }))
  const manifestBlob = blob(
    Buffer.from(JSON.stringify(manifest, null, MANIFEST_INDENT)),
    img.manifest.mediaType,
  )
  return { ...img, config: configBlob, layers, manifest: manifestBlob }
}

export { sha256Digest }
