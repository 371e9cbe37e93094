/**
 * Reading what `podman push ID dir:DIR` writes: containers/image's `dir:` layout, one image:
 *
 *   manifest.json   the manifest, in the type podman stored the image with (Docker v2s2 or OCI)
 *   <hex>           every blob (config and layers) by the hex of its sha256 digest
 *   version         "Directory Transport Version: 1.1"
 *
 * Why `dir:` and not `oci:`: pushing an image stored with a Docker v2s2 manifest (anything pulled
 * from Docker Hub, anything `podman load`ed from a docker-archive) to `oci:` converts the manifest,
 * and the conversion re-serializes the config, so the config digest (the image ID) changes. `dir:`
 * keeps manifest type and config bytes; `--compress` gzips the layers as a push to a registry does.
 */
import { createReadStream } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { sha256Digest, verifyBytes } from '../../digest.js'
import { AirlockError } from '../../errors.js'
import { type Descriptor, sniffManifestType } from '../../manifest.js'
import { isValidDigest } from '../../reference.js'
import type { BlobStream, ImageReference, ImageSource, RawManifest } from '../transport.js'

export class DirExportSource implements ImageSource {
  readonly capabilities = { concurrentBlobs: true, preservesDigests: false }

  private constructor(
    readonly reference: ImageReference,
    private readonly dir: string,
    private readonly top: RawManifest,
    private readonly signal?: AbortSignal,
  ) {}

  static async open(reference: ImageReference, dir: string, signal?: AbortSignal): Promise<DirExportSource> {
    let bytes: Buffer
    try {
      bytes = await readFile(join(dir, 'manifest.json'))
    } catch (err) {
      throw new AirlockError('EXEC_FAILED', `podman push wrote no manifest.json for ${reference}`, {
        cause: err,
        hint: 'run the same podman push to dir: by hand to see what podman does',
      })
    }
    const mediaType = sniffManifestType(bytes)
    if (!mediaType) {
      throw new AirlockError(
        'EXEC_FAILED',
        `podman push wrote a manifest.json for ${reference} that is not JSON`,
      )
    }
    return new DirExportSource(reference, dir, { bytes, mediaType, digest: sha256Digest(bytes) }, signal)
  }

  private blobPath(digest: string): string {
    if (!isValidDigest(digest) || !digest.startsWith('sha256:')) {
      throw new AirlockError(
        'INVALID_INPUT',
        `${this.reference}: the manifest names an unusable digest ${JSON.stringify(digest)}`,
      )
    }
    return join(this.dir, digest.slice('sha256:'.length))
  }

  async getManifest(digest?: string): Promise<RawManifest> {
    if (digest === undefined || digest === this.top.digest) return this.top
    // One image only: anything else would be a child of an index, which podman push does not write here.
    const bytes = await readFile(this.blobPath(digest)).catch(() => undefined)
    if (!bytes) throw new AirlockError('NOT_FOUND', `${this.reference} has no manifest ${digest}`)
    verifyBytes(bytes, digest, `manifest ${digest} of ${this.reference}`)
    return { bytes, digest, mediaType: '' }
  }

  async getBlob(desc: Descriptor): Promise<BlobStream> {
    const path = this.blobPath(desc.digest)
    let size: number
    try {
      size = (await stat(path)).size
    } catch {
      throw new AirlockError('NOT_FOUND', `podman push left out blob ${desc.digest} of ${this.reference}`, {
        hint: 'run the copy again; if it persists, check `podman image inspect` and the storage',
      })
    }
    return { stream: createReadStream(path, { highWaterMark: 1 << 20, signal: this.signal }), size }
  }

  async close(): Promise<void> {}
}
