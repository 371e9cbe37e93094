/**
 * The transport contract (docs/architecture.md, the transport contract and its call order).
 *
 * Every place an image can live is a transport named by a prefix, as skopeo users know
 * (`docker://`, `oci:`). A transport parses its part of a reference into an ImageReference, which
 * opens an ImageSource (read) or an ImageDestination (write).
 *
 * Call order on a destination, always: `tryReuseBlob`/`putBlob` for every blob of a manifest, then
 * `putManifest` for that manifest (children before their index), then `commit` with the top manifest.
 * Only `commit` makes the image visible under its tag, so a tag never points at a manifest whose
 * blobs are not all there.
 */
import type { Readable } from 'node:stream'
import type { Descriptor } from '../manifest.js'
import type { RegistryOptions } from './registry/options.js'

/** A manifest exactly as stored: the bytes are never re-serialized, so digests are kept. */
export interface RawManifest {
  bytes: Buffer
  mediaType: string
  digest: string
}

export interface BlobStream {
  stream: Readable
  /** Size in bytes, -1 when the source does not know it. */
  size: number
}

export interface SourceCapabilities {
  /** getBlob may be called for several blobs at once. */
  concurrentBlobs: boolean
  /**
   * false when the manifests are made up on reading (docker-archive files, engine storage) rather
   * than the original bytes. Undefined means true.
   */
  preservesDigests?: boolean
}

export interface DestinationCapabilities {
  /** putBlob may be called for several blobs at once. */
  concurrentBlobs: boolean
  /** tryReuseBlob can mount a blob from another repository of the same registry. */
  canMount: boolean
  /**
   * commit stores the top manifest itself (a registry's PUT by tag), so the engine need not
   * putManifest an image that is the top manifest first; one request instead of two.
   */
  commitStoresManifest?: boolean
  /**
   * false when the destination does not keep manifest bytes (docker-archive files, podman and
   * docker storage: engines store config and layers, and may recompress them on the way out). The
   * engine then reports `digestsPreserved: false`. Undefined means true.
   */
  preservesDigests?: boolean
}

export interface ImageSource {
  readonly reference: ImageReference
  readonly capabilities: SourceCapabilities
  /**
   * The manifest the reference names (digest undefined), or the manifest with that digest (children
   * of an index). Implementations MUST check that the bytes hash to the requested digest, and to the
   * reference's digest when the reference has one.
   */
  getManifest(digest?: string): Promise<RawManifest>
  /** The blob as a stream. The caller verifies digest and size while it reads. */
  getBlob(desc: Descriptor): Promise<BlobStream>
  close(): Promise<void>
}

export type ReuseResult = 'exists' | 'mounted' | undefined

export interface ImageDestination {
  readonly reference: ImageReference
  readonly capabilities: DestinationCapabilities
  /**
   * Manifest media types this destination stores, undefined for any. A destination that takes no
   * index type holds one image: the engine picks the platform (--platform, else this machine's).
   */
  readonly supportedManifestTypes?: readonly string[]
  /**
   * Where this destination keeps blobs, for the run-wide ledger (src/lib/copy/blob-ledger.ts):
   * destinations with the same blobKey share blobs (one registry repository), and those with the
   * same mountKey (one registry) can mount each other's. Undefined: nothing is shared.
   */
  readonly blobKey?: string
  readonly mountKey?: string
  /** The digest the destination's tag (or reference) points at now, undefined when absent. */
  currentDigest(): Promise<string | undefined>
  /** Whether a manifest with this digest is already stored. */
  hasManifest(digest: string): Promise<boolean>
  /** Makes the blob available without sending its bytes, when possible. */
  tryReuseBlob(desc: Descriptor, opts?: { mountFrom?: ImageReference }): Promise<ReuseResult>
  /**
   * Stores a blob from a stream. The stream is already verified by the caller's digesting reader,
   * which errors the stream before its last bytes are released when the digest or size is wrong;
   * implementations MUST NOT store the blob in that case and MUST remove partial data on any error.
   */
  putBlob(desc: Descriptor, stream: Readable): Promise<void>
  /** Stores a manifest by digest, without tagging it. Its blobs/children must already be stored. */
  putManifest(manifest: RawManifest): Promise<void>
  /**
   * Points the reference's tag at `top` (the last step of a copy). putManifest has stored `top`
   * already, unless the destination declares commitStoresManifest.
   */
  commit(top: RawManifest): Promise<void>
  close(): Promise<void>
}

/** How to reach the local engines (podman CLI, Docker Engine API). */
export interface EngineOptions {
  /** podman's global storage flags; unset ones come from storage.conf as podman resolves it. */
  podman?: { root?: string; runroot?: string; storageDriver?: string; path?: string }
  /** Docker Engine API address (`unix:///run/docker.sock`, `tcp://host:2375`); default DOCKER_HOST. */
  dockerHost?: string
  /** Environment for child processes and variable lookup (default process.env). */
  env?: NodeJS.ProcessEnv
  /** Directory for temporary files (default TMPDIR). */
  tmpDir?: string
}

export interface TransportContext {
  registry?: RegistryOptions
  engine?: EngineOptions
  /** Aborts network requests and file work. */
  signal?: AbortSignal
}

export interface ImageReference {
  readonly transport: Transport
  /** The reference with its transport prefix, e.g. `docker://localhost:5000/app:1`. */
  toString(): string
  /** The reference without the transport prefix. */
  readonly within: string
  newSource(ctx?: TransportContext): Promise<ImageSource>
  newDestination(ctx?: TransportContext): Promise<ImageDestination>
}

export interface Transport {
  readonly name: string
  parse(within: string): ImageReference
}
