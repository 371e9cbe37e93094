/**
 * Reading one image of a `docker save`-format archive (manifest-json.ts) as an ImageSource.
 *
 * The archive stores no manifest, so one is made up: a Docker v2 schema 2 manifest whose config is
 * the config file as stored and whose layers are the layer files as stored (compressed ones stay
 * compressed, so an image copied into an archive and out again keeps its layer digests). Unlike
 * containers/image, layers are not decompressed to match their diff IDs.
 *
 * A layer's digest is found without reading it twice when possible:
 *  1. the file name says it: `blobs/sha256/<hex>` (Docker >= 25) or `<hex>.tar` (skopeo, podman);
 *  2. the layer is an uncompressed tar: its digest is the config's rootfs.diff_ids[i];
 *  3. otherwise the layer is hashed once here, when the source opens.
 * The copy engine checks every blob against its digest while it streams, so a wrong guess fails the
 * copy with DIGEST_MISMATCH rather than storing something else.
 */
import { Readable } from 'node:stream'
import { sha256Digest } from '../../digest.js'
import { AirlockError } from '../../errors.js'
import { type Descriptor, MEDIA } from '../../manifest.js'
import { isValidDigest } from '../../reference.js'
import { ArchiveFile, MAX_JSON } from '../archive/archive-file.js'
import { type Compression, sniffCompression } from '../archive/compression.js'
import type { TarEntry } from '../archive/tar-index.js'
import { referencedName } from '../archive/tar-paths.js'
import type { BlobStream, ImageReference, ImageSource, RawManifest, TransportContext } from '../transport.js'
import { type ManifestItem, parseManifestJson, type Selection, selectItem } from './manifest-json.js'

export const DOCKER_CONFIG_MEDIA = 'application/vnd.docker.container.image.v1+json'

const LAYER_MEDIA: Record<Compression, string> = {
  none: 'application/vnd.docker.image.rootfs.diff.tar',
  gzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  zstd: 'application/vnd.docker.image.rootfs.diff.tar.zstd',
  // No Docker media types exist for these; engines sniff the compression anyway.
  bzip2: 'application/vnd.docker.image.rootfs.diff.tar',
  xz: 'application/vnd.docker.image.rootfs.diff.tar',
}

/** Reads manifest.json of an opened archive. */
export async function readManifestJson(archive: ArchiveFile): Promise<ManifestItem[]> {
  if (!archive.has('manifest.json')) {
    const oci = archive.has('index.json')
    throw new AirlockError('INVALID_INPUT', `${archive.what} has no manifest.json`, {
      hint: oci
        ? `it is an OCI archive; read it with oci-archive:${archive.path}`
        : 'give an archive written by docker save (Docker >= 1.10), podman save or skopeo copy',
    })
  }
  const bytes = await archive.read(archive.file('manifest.json', 'manifest.json'), MAX_JSON)
  return parseManifestJson(bytes, archive.what)
}

/** The images a docker save archive holds, in manifest.json order (`@N` is the position). */
export async function listDockerArchive(path: string): Promise<Array<{ index: number; repoTags: string[] }>> {
  const archive = await ArchiveFile.open(path, `docker-archive:${path}`)
  try {
    return (await readManifestJson(archive)).map((it, index) => ({ index, repoTags: it.RepoTags }))
  } finally {
    await archive.close()
  }
}

type BlobLocation = { bytes: Buffer } | { entry: TarEntry }

export class DockerArchiveSource implements ImageSource {
  readonly capabilities = { concurrentBlobs: true }

  private constructor(
    readonly reference: ImageReference,
    private readonly archive: ArchiveFile,
    private readonly manifest: RawManifest,
    private readonly blobs: Map<string, BlobLocation>,
    private readonly ctx: TransportContext,
  ) {}

  static async open(
    reference: ImageReference,
    path: string,
    sel: Selection,
    ctx: TransportContext = {},
  ): Promise<DockerArchiveSource> {
    const what = reference.toString()
    const archive = await ArchiveFile.open(path, what, ctx.signal)
    try {
      const item = selectItem(await readManifestJson(archive), sel, what)
      const configEntry = archive.file(referencedName(item.Config, 'Config', what), 'Config')
      const config = await archive.read(configEntry, MAX_JSON)
      const diffIds = diffIdsOf(config, what)
      const blobs = new Map<string, BlobLocation>()
      const configDigest = sha256Digest(config)
      blobs.set(configDigest, { bytes: config })
      const layers: Descriptor[] = []
      for (const [i, raw] of item.Layers.entries()) {
        const entry = archive.file(referencedName(raw, `Layers[${i}]`, what), `Layers[${i}]`)
        const compression = sniffCompression(await archive.head(entry, 8))
        const digest =
          digestFromName(entry.name) ??
          (compression === 'none' && diffIds?.length === item.Layers.length && isValidDigest(diffIds[i])
            ? diffIds[i]
            : await archive.sha256(entry, ctx.signal))
        blobs.set(digest, { entry })
        layers.push({ mediaType: LAYER_MEDIA[compression], size: entry.size, digest })
      }
      const doc = {
        schemaVersion: 2,
        mediaType: MEDIA.dockerManifest,
        config: { mediaType: DOCKER_CONFIG_MEDIA, size: config.length, digest: configDigest },
        layers,
      }
      const bytes = Buffer.from(JSON.stringify(doc))
      const manifest = { bytes, mediaType: MEDIA.dockerManifest, digest: sha256Digest(bytes) }
      return new DockerArchiveSource(reference, archive, manifest, blobs, ctx)
    } catch (err) {
      await archive.close()
      throw err
    }
  }

  async getManifest(digest?: string): Promise<RawManifest> {
    if (digest && digest !== this.manifest.digest) {
      throw new AirlockError('NOT_FOUND', `${this.reference} has no manifest ${digest}`, {
        hint: `a docker archive holds one image per reference; its manifest is ${this.manifest.digest}`,
      })
    }
    return this.manifest
  }

  async getBlob(desc: Descriptor): Promise<BlobStream> {
    const where = this.blobs.get(desc.digest)
    if (!where) {
      throw new AirlockError('NOT_FOUND', `${this.reference} has no blob ${desc.digest}`, {
        hint: 'the image in the archive has no such config or layer',
      })
    }
    if ('bytes' in where) return { stream: Readable.from([where.bytes]), size: where.bytes.length }
    return { stream: this.archive.stream(where.entry, this.ctx.signal), size: where.entry.size }
  }

  async close(): Promise<void> {
    await this.archive.close()
  }
}

function diffIdsOf(config: Buffer, what: string): string[] | undefined {
  let doc: { rootfs?: { diff_ids?: unknown } }
  try {
    doc = JSON.parse(config.toString('utf8'))
  } catch {
    throw new AirlockError('INVALID_INPUT', `${what}: the image config is not valid JSON`, {
      hint: 'the archive is corrupt; recreate it',
    })
  }
  const ids = doc?.rootfs?.diff_ids
  return Array.isArray(ids) && ids.every((d) => typeof d === 'string') ? (ids as string[]) : undefined
}

/** `blobs/sha256/<hex>` (OCI layout inside Docker >= 25 archives) or `<hex>.tar` (containers/image). */
function digestFromName(name: string): string | undefined {
  const m = /^blobs\/(sha256|sha384|sha512)\/([0-9a-f]+)$/.exec(name) ?? /^()([0-9a-f]{64})\.tar$/.exec(name)
  if (!m) return undefined
  const digest = `${m[1] || 'sha256'}:${m[2]}`
  return isValidDigest(digest) ? digest : undefined
}
