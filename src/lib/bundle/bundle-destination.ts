/**
 * One image being added to a bundle: an ImageDestination over the bundle's shared writer. Blobs
 * already in the bundle (from this run's other images, or from an earlier run) are reused; a blob
 * another image is writing right now is waited for instead of being fetched twice.
 */
import type { Readable } from 'node:stream'
import type { Descriptor } from '../manifest.js'
import type { ImageDestination, ImageReference, RawManifest, ReuseResult } from '../transports/transport.js'
import type { BundleWriter } from './bundle-writer.js'
import { blobPath } from './layout.js'

export class BundleDestination implements ImageDestination {
  readonly capabilities = { concurrentBlobs: true, canMount: false, preservesDigests: true }

  constructor(
    readonly reference: ImageReference,
    private readonly writer: BundleWriter,
    /** Digest the bundle holds under this name already (an earlier run). */
    private readonly current: string | undefined,
    private readonly onCommit: (top: RawManifest) => void,
  ) {}

  async currentDigest(): Promise<string | undefined> {
    return this.current && this.writer.has(blobPath(this.current)) ? this.current : undefined
  }

  async hasManifest(digest: string): Promise<boolean> {
    return this.writer.has(blobPath(digest))
  }

  async tryReuseBlob(desc: Descriptor): Promise<ReuseResult> {
    return (await this.writer.claim(desc.digest, this)) ? 'exists' : undefined
  }

  putBlob(desc: Descriptor, stream: Readable): Promise<void> {
    return this.writer.addBlob(desc.digest, desc.size, stream)
  }

  async putManifest(m: RawManifest): Promise<void> {
    if (await this.writer.claim(m.digest, this)) return
    await this.writer.addBlob(m.digest, m.bytes.length, m.bytes)
  }

  async commit(top: RawManifest): Promise<void> {
    await this.putManifest(top)
    this.onCommit(top)
  }

  async close(): Promise<void> {
    this.writer.release(this)
  }
}
