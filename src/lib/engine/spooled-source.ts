/**
 * An ImageSource over a temporary copy an engine wrote (a `dir:` copy from `podman push`, a
 * docker-archive from the Docker API's `GET /images/{name}/get`), named as the engine reference
 * and removing the copy on close.
 *
 * Engines keep configs and layer contents, not manifests: the manifests read here are the engine's
 * own (layers recompressed), so `preservesDigests` is false and the copy reports it.
 */
import type { Descriptor } from '../manifest.js'
import type {
  BlobStream,
  ImageReference,
  ImageSource,
  RawManifest,
  SourceCapabilities,
} from '../transports/transport.js'
import type { TempDir } from './temp-dir.js'

export class SpooledSource implements ImageSource {
  readonly capabilities: SourceCapabilities

  constructor(
    readonly reference: ImageReference,
    private readonly inner: ImageSource,
    private readonly tmp: TempDir,
  ) {
    this.capabilities = { concurrentBlobs: inner.capabilities.concurrentBlobs, preservesDigests: false }
  }

  getManifest(digest?: string): Promise<RawManifest> {
    return this.inner.getManifest(digest)
  }

  getBlob(desc: Descriptor): Promise<BlobStream> {
    return this.inner.getBlob(desc)
  }

  async close(): Promise<void> {
    try {
      await this.inner.close()
    } finally {
      await this.tmp.remove()
    }
  }
}
