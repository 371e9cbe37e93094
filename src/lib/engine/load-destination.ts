/**
 * Writing into an engine: the image is staged in a temporary directory (blobs, then the manifest, as
 * every destination takes them), and only commit hands the finished image to the engine. The file
 * or directory is removed in close(), after success or failure.
 *
 * - Docker (`POST /images/load`) gets a docker-archive; the engine names the image from the
 *   archive's RepoTags. Docker keeps no manifest bytes: `preservesDigests: false`.
 * - podman gets containers/image's `dir:` layout (containers-storage/dir-import.ts) and keeps the
 *   manifest bytes, so the image keeps its manifest digest: `preservesDigests: true`.
 *
 * Engines hold one image per name: image manifests only. Only podman remembers manifest digests,
 * so currentDigest can say "already there" only for podman; otherwise every copy loads (the engine
 * reuses layers it has). hasManifest is always false.
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
  /** The finished image: the docker-archive file, or the directory the stage wrote. */
  file: string
  /** The name the image must end up under. */
  name: ImageRef
  /** The image's config digest (its image ID in podman and classic Docker storage). */
  configDigest: string
  /** The image manifest the copy committed, as it gave it. */
  manifest: RawManifest
  signal?: AbortSignal
}

/** How the image is staged before the engine gets it, when not as a docker-archive. */
export interface LoadStage {
  /** Opens the destination that writes the image at `path` (inside the temporary directory). */
  open(path: string): Promise<ImageDestination>
  /** The engine keeps the manifest bytes the stage holds (podman with `dir:`). */
  preservesDigests: boolean
}

export interface LoadingOptions {
  /** Where the inner destination writes the image. */
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
  /** The engine keeps the manifest bytes (default false). */
  preservesDigests?: boolean
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
      preservesDigests: opts.preservesDigests ?? false,
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
      manifest: top,
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
 * A LoadingDestination for `name`, the image staged in a new temporary directory
 * (`airlock-<purpose>-…`) that close() removes (removed at once when opening fails): a docker-archive
 * `image.tar`, or what `engine.stage` writes at `image`.
 */
export async function openLoadingDestination(
  ref: ImageReference,
  name: ImageRef,
  opts: EngineOptions,
  purpose: string,
  ctx: TransportContext,
  engine: Pick<LoadingOptions, 'load' | 'current'> & { stage?: LoadStage },
): Promise<LoadingDestination> {
  const tmp = await makeTempDir(opts, purpose)
  try {
    const { stage, ...loader } = engine
    const file = join(tmp.path, stage ? 'image' : 'image.tar')
    const inner = stage ? await stage.open(file) : await openArchiveWriter(file, name, ctx)
    return new LoadingDestination(ref, inner, {
      file,
      tmp,
      name,
      signal: ctx.signal,
      preservesDigests: stage?.preservesDigests ?? false,
      ...loader,
    })
  } catch (err) {
    await tmp.remove()
    throw err
  }
}

/**
 * The part of an engine's load error that matters: podman's API tries every archive format in turn
 * and lists each failure (`* oci-archive: …`, `* docker-archive: …`, `* dir: …`); the archive is a
 * docker-archive, so that line is the reason.
 */
export function loadFailureReason(text: string): string {
  const line = text
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.startsWith('* docker-archive:'))
  const reason = line ? line.slice(2) : text.trim().split('\n').slice(-3).join(' ')
  return reason.replace(/\s+/g, ' ') || '(no error output)'
}
