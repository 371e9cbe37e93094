/**
 * Writing an OCI archive: a tar of an OCI image layout (image-spec image-layout.md), as skopeo's
 * oci-archive: writes it. `oci-layout` first, then `blobs/<alg>/<hex>` for every blob and manifest as
 * it arrives, and `index.json` last, naming the top manifest (an image or a whole index) with the
 * `org.opencontainers.image.ref.name` annotation when the reference has a REF. Manifest bytes are
 * stored as they are, so digests are preserved.
 */
import type { Readable } from 'node:stream'
import { AirlockError } from '../../errors.js'
import { type Descriptor, MEDIA } from '../../manifest.js'
import { isValidDigest } from '../../reference.js'
import { TarFileWriter } from '../archive/tar-writer.js'
import { REF_NAME } from '../oci-layout/transport.js'
import type { ImageDestination, ImageReference, RawManifest, ReuseResult } from '../transport.js'

export class OciArchiveDestination implements ImageDestination {
  readonly capabilities = { concurrentBlobs: false, canMount: false, preservesDigests: true }
  private readonly dirs = new Set<string>()

  private constructor(
    readonly reference: ImageReference,
    private readonly writer: TarFileWriter,
    private readonly name: string | undefined,
  ) {}

  static async create(
    reference: ImageReference,
    path: string,
    name?: string,
  ): Promise<OciArchiveDestination> {
    const writer = await TarFileWriter.create(path, reference.toString())
    const dst = new OciArchiveDestination(reference, writer, name)
    try {
      await writer.addBuffer('oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })))
    } catch (err) {
      await writer.abort()
      throw err
    }
    return dst
  }

  private blobName(digest: string): string {
    if (!isValidDigest(digest)) {
      throw new AirlockError('INVALID_INPUT', `${this.reference}: invalid digest ${JSON.stringify(digest)}`)
    }
    const [alg, hex] = digest.split(':')
    return `blobs/${alg}/${hex}`
  }

  /** Directory entries for `blobs/` and `blobs/<alg>/`, so extracting tools need not make them. */
  private async ensureDirs(digest: string): Promise<void> {
    const alg = digest.split(':')[0]
    for (const dir of ['blobs/', `blobs/${alg}/`]) {
      if (this.dirs.has(dir)) continue
      this.dirs.add(dir)
      await this.writer.addDirectory(dir)
    }
  }

  async currentDigest(): Promise<string | undefined> {
    return undefined
  }

  async hasManifest(digest: string): Promise<boolean> {
    return this.writer.has(this.blobName(digest))
  }

  async tryReuseBlob(desc: Descriptor): Promise<ReuseResult> {
    return this.writer.has(this.blobName(desc.digest)) ? 'exists' : undefined
  }

  async putBlob(desc: Descriptor, stream: Readable): Promise<void> {
    const name = this.blobName(desc.digest)
    await this.ensureDirs(desc.digest)
    await this.writer.addStream(name, desc.size, stream)
  }

  async putManifest(m: RawManifest): Promise<void> {
    const name = this.blobName(m.digest)
    if (this.writer.has(name)) return
    await this.ensureDirs(m.digest)
    await this.writer.addBuffer(name, m.bytes)
  }

  async commit(top: RawManifest): Promise<void> {
    await this.putManifest(top)
    const index = {
      schemaVersion: 2,
      mediaType: MEDIA.ociIndex,
      manifests: [
        {
          mediaType: top.mediaType,
          digest: top.digest,
          size: top.bytes.length,
          ...(this.name ? { annotations: { [REF_NAME]: this.name } } : {}),
        },
      ],
    }
    await this.writer.addBuffer('index.json', Buffer.from(JSON.stringify(index)))
    await this.writer.commit()
  }

  async close(): Promise<void> {
    await this.writer.abort()
  }
}
