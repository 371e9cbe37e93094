/**
 * Writing into an engine: the image is built as a docker-archive in a temporary file (blobs, then the
 * manifest, as every destination takes them), and only commit hands the finished file to the engine
 * (`podman load`, `POST /images/load`). The engine names the image from the archive's RepoTags, so
 * the requested name appears only when the whole image is stored, with no temporary names; the file
 * is removed in close(), after success or failure.
 *
 * Engines hold one image per name and keep no manifest bytes: image manifests only, and
 * `preservesDigests: false`. Only podman remembers a manifest digest (for images it pulled itself),
 * so currentDigest can say "already there" only then; otherwise every copy loads (the engine reuses
 * layers it has). hasManifest is always false.
 */
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { type Descriptor, MEDIA, parseManifest } from '../manifest.js'
import type { ImageRef } from '../reference.js'
import type {
  DestinationCapabilities,
  EngineOptions,
  ImageDestination,
  ImageReference,
  RawManifest,
  ReuseResult,
  TransportContext,
} from '../transports/transport.js'
import { openArchiveWriter } from './docker-archive-file.js'
import { makeTempDir, type TempDir } from './temp-dir.js'

export const IMAGE_MANIFEST_TYPES: readonly string[] = [MEDIA.ociManifest, MEDIA.dockerManifest]

export interface LoadRequest {
  /** The finished docker-archive. */
  file: string
  /** The name the image must end up under. */
  name: ImageRef
  /** The image's config digest (its image ID in podman and classic Docker storage). */
  configDigest: string
  signal?: AbortSignal
}

export interface LoadingOptions {
  /** Where the inner destination writes the archive. */
  file: string
  /** Holds `file`; removed in close(). */
  tmp: TempDir
  /** The name the image must end up under. */
  name: ImageRef
  /** Hands the finished archive to the engine; resolves with the image ID the name points at. */
  load: (req: LoadRequest) => Promise<string>
  /**
   * The manifest digest the engine recorded for the image the name points at now, when it keeps one
   * (podman does for images it pulled itself): a copy of that same manifest is then a no-op.
   */
  current?: () => Promise<string | undefined>
  signal?: AbortSignal
}

export class LoadingDestination implements ImageDestination {
  readonly supportedManifestTypes = IMAGE_MANIFEST_TYPES
  readonly capabilities: DestinationCapabilities
  /** The image ID the name points at after commit. */
  loadedId: string | undefined
  private innerClosed = false

  constructor(
    readonly reference: ImageReference,
    private readonly inner: ImageDestination,
    private readonly opts: LoadingOptions,
  ) {
    this.capabilities = {
      concurrentBlobs: inner.capabilities.concurrentBlobs,
      canMount: false,
      preservesDigests: false,
    }
  }

  async currentDigest(): Promise<string | undefined> {
    return this.opts.current?.()
  }

  async hasManifest(_digest: string): Promise<boolean> {
    return false
  }

  tryReuseBlob(desc: Descriptor): Promise<ReuseResult> {
    return this.inner.tryReuseBlob(desc)
  }

  putBlob(desc: Descriptor, stream: Readable): Promise<void> {
    return this.inner.putBlob(desc, stream)
  }

  putManifest(manifest: RawManifest): Promise<void> {
    return this.inner.putManifest(manifest)
  }

  async commit(top: RawManifest): Promise<void> {
    const parsed = parseManifest(top.bytes, top.mediaType, this.reference.toString())
    await this.inner.commit(top)
    await this.closeInner()
    this.opts.signal?.throwIfAborted()
    this.loadedId = await this.opts.load({
      file: this.opts.file,
      name: this.opts.name,
      configDigest: parsed.config!.digest,
      signal: this.opts.signal,
    })
  }

  private async closeInner(): Promise<void> {
    if (this.innerClosed) return
    this.innerClosed = true
    await this.inner.close()
  }

  async close(): Promise<void> {
    try {
      await this.closeInner()
    } finally {
      await this.opts.tmp.remove()
    }
  }
}

/**
 * A LoadingDestination for `name`, its archive in a new temporary directory (`airlock-<purpose>-…`)
 * that close() removes, or this when opening fails.
 */
export async function openLoadingDestination(
  ref: ImageReference,
  name: ImageRef,
  opts: EngineOptions,
  purpose: string,
  ctx: TransportContext,
  engine: Pick<LoadingOptions, 'load' | 'current'>,
): Promise<LoadingDestination> {
  const tmp = await makeTempDir(opts, purpose)
  try {
    const file = join(tmp.path, 'image.tar')
    const inner = await openArchiveWriter(file, name, ctx)
    return new LoadingDestination(ref, inner, { file, tmp, name, signal: ctx.signal, ...engine })
  } catch (err) {
    await tmp.remove()
    throw err
  }
}

/**
 * The part of an engine's load error that matters: podman (CLI and API) tries every archive format
 * in turn and lists each failure (`* oci-archive: …`, `* docker-archive: …`, `* dir: …`); the archive
 * is a docker-archive, so that line is the reason.
 */
export function loadFailureReason(text: string): string {
  const line = text
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.startsWith('* docker-archive:'))
  const reason = line ? line.slice(2) : text.trim().split('\n').slice(-3).join(' ')
  return reason.replace(/\s+/g, ' ') || '(no error output)'
}
