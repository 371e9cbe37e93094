/**
 * The `docker://` transport: images in a registry speaking the distribution API.
 * `docker://host[:port]/repo[:tag][@digest]`; a bare reference means this transport; no tag means
 * `latest`, as docker, podman and skopeo do.
 */
import type { Readable } from 'node:stream'
import { digestOf, verifyBytes } from '../../digest.js'
import { AirlockError } from '../../errors.js'
import { type Descriptor, MEDIA, parseManifest } from '../../manifest.js'
import { type ImageRef, parseDockerRef, registryHost } from '../../reference.js'
import type {
  ImageDestination,
  ImageReference,
  ImageSource,
  RawManifest,
  ReuseResult,
  Transport,
  TransportContext,
} from '../transport.js'
import { RegistryClient } from './client.js'

export class DockerReference implements ImageReference {
  readonly transport: Transport = dockerTransport
  readonly ref: ImageRef

  constructor(ref: ImageRef) {
    this.ref = ref
  }

  get within(): string {
    return `//${this.ref.toString()}`
  }

  toString(): string {
    return `docker://${this.ref.toString()}`
  }

  /** The tag or digest to ask the registry for. */
  get lookup(): string {
    return this.ref.digest ?? this.ref.tag ?? 'latest'
  }

  async newSource(ctx: TransportContext = {}): Promise<ImageSource> {
    return new RegistrySource(
      this,
      new RegistryClient(this.ref.registry, ctx.registry, this.ref.repository),
      ctx,
    )
  }

  async newDestination(ctx: TransportContext = {}): Promise<ImageDestination> {
    return new RegistryDestination(
      this,
      new RegistryClient(this.ref.registry, ctx.registry, this.ref.repository),
      ctx,
    )
  }
}

export const dockerTransport: Transport = {
  name: 'docker',
  parse(within: string): ImageReference {
    if (!within.startsWith('//')) {
      throw new AirlockError(
        'INVALID_REFERENCE',
        `invalid docker reference "docker:${within}": expected docker://`,
        {
          hint: 'write docker://registry/repository:tag, or the reference without a transport prefix',
        },
      )
    }
    return new DockerReference(parseDockerRef(within.slice(2)))
  },
}

/**
 * The manifest `reference` names (or the one with `digest`), checked: against the digest asked for
 * or named in the reference, else against the registry's Docker-Content-Digest header.
 */
export async function getVerifiedManifest(
  client: RegistryClient,
  reference: DockerReference,
  digest?: string,
  signal?: AbortSignal,
): Promise<RawManifest> {
  const { ref } = reference
  const lookup = digest ?? reference.lookup
  const got = await client.getManifest(ref.repository, lookup, signal)
  const expected = digest ?? ref.digest
  const what = `manifest of ${ref.name}@${lookup}`
  // A signed schema 1 manifest is re-signed on every GET, so its bytes never hash to the digest the
  // registry names: say what it is (parseManifest's refusal) before any digest check calls it damaged.
  if (isSchema1(got.bytes, got.mediaType)) parseManifest(got.bytes, got.mediaType, `${ref.name}@${lookup}`)
  if (expected) verifyBytes(got.bytes, expected, what)
  const computed = expected ?? digestOf(got.bytes, got.digest ?? 'sha256:')
  if (!expected && got.digest && got.digest !== computed) {
    throw new AirlockError(
      'DIGEST_MISMATCH',
      `${what}: registry says ${got.digest}, content hashes to ${computed}`,
      {
        hint: 'the registry or a proxy changed the manifest in transit',
      },
    )
  }
  return { bytes: got.bytes, mediaType: got.mediaType, digest: computed }
}

function isSchema1(bytes: Buffer, mediaType: string): boolean {
  if (mediaType === MEDIA.dockerSchema1 || mediaType === MEDIA.dockerSchema1Signed) return true
  // Some registries send schema 1 as application/json; its bytes say "schemaVersion": 1.
  return /"schemaVersion"\s*:\s*1\s*[,}]/.test(bytes.subarray(0, 4096).toString('latin1'))
}

class RegistrySource implements ImageSource {
  readonly capabilities = { concurrentBlobs: true }

  constructor(
    readonly reference: DockerReference,
    readonly client: RegistryClient,
    private readonly ctx: TransportContext,
  ) {}

  async getManifest(digest?: string): Promise<RawManifest> {
    return getVerifiedManifest(this.client, this.reference, digest, this.ctx.signal)
  }

  async getBlob(desc: Descriptor): Promise<{ stream: Readable; size: number }> {
    return this.client.getBlob(this.reference.ref.repository, desc.digest, this.ctx.signal)
  }

  async close(): Promise<void> {}
}

class RegistryDestination implements ImageDestination {
  readonly capabilities = { concurrentBlobs: true, canMount: true, commitStoresManifest: true }
  /**
   * Upload sessions opened by tryReuseBlob for a blob that must be sent (a refused mount, or a POST
   * started while the caller fetches the blob from the source, saving one round trip per blob).
   */
  private readonly openUploads = new Map<string, Promise<string>>()

  constructor(
    readonly reference: DockerReference,
    readonly client: RegistryClient,
    private readonly ctx: TransportContext,
  ) {}

  private get repo(): string {
    return this.reference.ref.repository
  }

  get blobKey(): string {
    return `docker://${this.client.host}/${this.repo}`
  }

  get mountKey(): string {
    return `docker://${this.client.host}`
  }

  async currentDigest(): Promise<string | undefined> {
    const head = await this.client.headManifest(this.repo, this.reference.lookup, this.ctx.signal)
    return head?.digest
  }

  async hasManifest(digest: string): Promise<boolean> {
    return (await this.client.headManifest(this.repo, digest, this.ctx.signal)) !== undefined
  }

  async tryReuseBlob(desc: Descriptor, opts: { mountFrom?: ImageReference } = {}): Promise<ReuseResult> {
    const size = await this.client.blobSize(this.repo, desc.digest, this.ctx.signal, [
      `repository:${this.repo}:pull,push`,
    ])
    if (size !== undefined) return 'exists'
    const from = opts.mountFrom
    if (
      from instanceof DockerReference &&
      registryHost(from.ref.registry) === this.client.host &&
      from.ref.repository !== this.repo
    ) {
      let started: string | undefined
      try {
        started = await this.client.startUpload(this.repo, {
          mountDigest: desc.digest,
          from: from.ref.repository,
          signal: this.ctx.signal,
        })
      } catch (err) {
        // A mount the user may not make (a robot account of another Harbor project: 401/403) is
        // not an error: the blob is sent instead, as skopeo does.
        if (!(err instanceof AirlockError) || (err.status !== 401 && err.status !== 403)) throw err
      }
      if (started === 'mounted') return 'mounted'
      if (started !== undefined) {
        this.openUploads.set(desc.digest, Promise.resolve(started))
        return undefined
      }
    }
    // The blob will be sent: open its upload session now, while the caller opens the source stream.
    const pending = this.client.startUpload(this.repo, { signal: this.ctx.signal })
    pending.catch(() => {}) // awaited (and its error seen) by putBlob; never an unhandled rejection
    this.openUploads.set(desc.digest, pending)
    return undefined
  }

  async putBlob(desc: Descriptor, stream: Readable): Promise<void> {
    const opened = this.openUploads.get(desc.digest)
    this.openUploads.delete(desc.digest)
    let location: string
    try {
      location = await (opened ?? this.client.startUpload(this.repo, { signal: this.ctx.signal }))
    } catch (err) {
      stream.destroy()
      throw err
    }
    try {
      await this.client.uploadBlob(this.repo, location, desc.digest, desc.size, stream, this.ctx.signal)
    } catch (err) {
      stream.destroy()
      await this.client.cancelUpload(this.repo, location)
      throw err
    }
  }

  async putManifest(m: RawManifest): Promise<void> {
    await this.client.putManifest(this.repo, m.digest, m.bytes, m.mediaType, this.ctx.signal)
  }

  /** Stores `top` too (capabilities.commitStoresManifest): the engine has not put it. */
  async commit(top: RawManifest): Promise<void> {
    const { ref } = this.reference
    const byDigest = Boolean(ref.digest) && !ref.tag
    if (byDigest && ref.digest !== top.digest) {
      throw new AirlockError(
        'DIGEST_MISMATCH',
        `destination ${this.reference} names digest ${ref.digest}, but the copied image is ${top.digest}`,
        {
          hint: 'leave the digest out of the destination, or give a tag',
        },
      )
    }
    // PUT by tag stores the manifest and points the tag at it in one request.
    const target = byDigest ? top.digest : (ref.tag ?? 'latest')
    await this.client.putManifest(this.repo, target, top.bytes, top.mediaType, this.ctx.signal)
  }

  async close(): Promise<void> {
    const open = [...this.openUploads.values()]
    this.openUploads.clear()
    for (const pending of open) {
      const location = await pending.catch(() => undefined)
      if (location) await this.client.cancelUpload(this.repo, location)
    }
  }
}
