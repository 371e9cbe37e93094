/**
 * Writing containers/image's `dir:` layout, the form airlock hands an image to podman in
 * (`podman pull dir:DIR`, see destination.ts); the mirror of dir-export.ts:
 *
 *   manifest.json   the image manifest, its bytes as the copy gave them
 *   <hex>           every blob (config and layers) by the hex of its sha256 digest
 *   version         "Directory Transport Version: 1.1"
 *
 * Why `dir:`: containers/image stores the manifest bytes it reads, so podman records the image under
 * the source's manifest digest (as `podman pull` from a registry and `skopeo copy
 * oci-archive:… containers-storage:…` do), and podman reads the blobs in place. A docker-archive
 * (`podman load`) makes podman build a manifest of its own; an oci-archive is first extracted into
 * podman's temporary directory (a second copy of the image); an `oci:` layout is named after its
 * path by podman 4.
 */
import { randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, rename, stat, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { sha256Digest } from '../../digest.js'
import { AirlockError } from '../../errors.js'
import { type Descriptor, MEDIA } from '../../manifest.js'
import { isValidDigest } from '../../reference.js'
import type { ImageDestination, ImageReference, RawManifest, ReuseResult } from '../transport.js'

export const DIR_VERSION = 'Directory Transport Version: 1.1\n'

/**
 * Layer media types containers/image takes in a Docker v2s2 manifest (manifest/docker_schema2.go,
 * supportedSchema2MediaType). Any other (the `tar.zstd` a docker-archive reader names zstd layers
 * with) makes it refuse the manifest.
 */
const DOCKER_LAYER_TYPES = new Set([
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'application/vnd.docker.image.rootfs.diff.tar',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar',
])

/**
 * The manifest podman can store for `top`: `top` itself, byte for byte, except a Docker v2s2
 * manifest naming a layer type containers/image refuses. Such manifests are made up on reading
 * (docker-archive files), never a registry's; those layers are then declared gzip, as
 * containers/image's own docker-archive reader declares every layer (storage sniffs the real
 * compression). The result's digest is the one podman records.
 */
export function manifestForPodman(top: RawManifest): RawManifest {
  if (top.mediaType !== MEDIA.dockerManifest) return top
  const doc = JSON.parse(top.bytes.toString('utf8')) as { layers?: Descriptor[] }
  if (!doc.layers?.some((l) => !DOCKER_LAYER_TYPES.has(l.mediaType))) return top
  doc.layers = doc.layers.map((l) =>
    DOCKER_LAYER_TYPES.has(l.mediaType)
      ? l
      : { ...l, mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip' },
  )
  const bytes = Buffer.from(JSON.stringify(doc))
  return { bytes, mediaType: top.mediaType, digest: sha256Digest(bytes) }
}

export class DirImportDestination implements ImageDestination {
  readonly capabilities = { concurrentBlobs: true, canMount: false, preservesDigests: true }

  private constructor(
    readonly reference: ImageReference,
    readonly dir: string,
  ) {}

  static async create(reference: ImageReference, dir: string): Promise<DirImportDestination> {
    await mkdir(dir, { recursive: true })
    await writeFile(join(dir, 'version'), DIR_VERSION)
    return new DirImportDestination(reference, dir)
  }

  blobPath(digest: string): string {
    if (!isValidDigest(digest) || !digest.startsWith('sha256:')) {
      throw new AirlockError(
        'UNSUPPORTED',
        `${this.reference}: blob ${JSON.stringify(digest)} is not a sha256 digest, which podman's dir: layout needs`,
      )
    }
    return join(this.dir, digest.slice('sha256:'.length))
  }

  async currentDigest(): Promise<string | undefined> {
    return undefined
  }

  async hasManifest(_digest: string): Promise<boolean> {
    return false
  }

  async tryReuseBlob(desc: Descriptor): Promise<ReuseResult> {
    const st = await stat(this.blobPath(desc.digest)).catch(() => undefined)
    return st?.size === desc.size ? 'exists' : undefined
  }

  async putBlob(desc: Descriptor, stream: Readable): Promise<void> {
    const final = this.blobPath(desc.digest)
    const tmp = `${final}.${randomBytes(6).toString('hex')}.partial`
    try {
      await pipeline(stream, createWriteStream(tmp))
      await rename(tmp, final)
    } catch (err) {
      await unlink(tmp).catch(() => undefined)
      throw err
    }
  }

  /** A dir: layout holds one manifest, manifest.json, written in commit. */
  async putManifest(_manifest: RawManifest): Promise<void> {}

  async commit(top: RawManifest): Promise<void> {
    await writeFile(join(this.dir, 'manifest.json'), manifestForPodman(top).bytes)
  }

  async close(): Promise<void> {}
}
