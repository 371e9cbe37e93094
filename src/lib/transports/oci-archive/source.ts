/**
 * Reading an image (or a whole index) from an OCI archive: a tar of an OCI image layout
 * (image-spec image-layout.md: `oci-layout`, `index.json`, `blobs/<alg>/<hex>`), as skopeo and
 * `podman save --format oci-archive` write it; Docker >= 25 `docker save` archives are one too.
 * index.json and manifests are small and read whole; blobs are served as byte ranges of the file.
 */
import { verifyBytes } from '../../digest.js'
import { AirlockError } from '../../errors.js'
import { type Descriptor, MEDIA, parseManifest, sniffManifestType } from '../../manifest.js'
import { parseDockerRef } from '../../reference.js'
import { ArchiveFile, MAX_JSON } from '../archive/archive-file.js'
import { selectArchiveImage } from '../archive/archive-reference.js'
import type { TarEntry } from '../archive/tar-index.js'
import { REF_NAME } from '../oci-layout/transport.js'
import type { BlobStream, ImageReference, ImageSource, RawManifest, TransportContext } from '../transport.js'

/** containerd (and Docker >= 25) put the full image name here; ref.name then holds only the tag. */
const CONTAINERD_NAME = 'io.containerd.image.name'

export interface OciSelection {
  name?: string
  index?: number
}

/** The entries of an opened OCI archive's index.json, in order (`@N` is the position). */
export async function readOciIndex(archive: ArchiveFile): Promise<Descriptor[]> {
  const { what } = archive
  if (!archive.has('index.json')) {
    throw new AirlockError('INVALID_INPUT', `${what} has no index.json, so it is not an OCI archive`, {
      hint: archive.has('manifest.json')
        ? `it is a docker save archive; read it with docker-archive:${archive.path}`
        : 'give a tar of an OCI image layout, as skopeo copy or podman save --format oci-archive write',
    })
  }
  const bytes = await archive.read(archive.file('index.json', 'index.json'), MAX_JSON)
  const index = parseManifest(bytes, MEDIA.ociIndex, `${what} (index.json)`)
  if (index.kind !== 'index') {
    throw new AirlockError('INVALID_INPUT', `${what}: index.json is not an image index`)
  }
  return index.children
}

export class OciArchiveSource implements ImageSource {
  readonly capabilities = { concurrentBlobs: true }

  private constructor(
    readonly reference: ImageReference,
    private readonly archive: ArchiveFile,
    private readonly top: Descriptor,
    private readonly ctx: TransportContext,
    /** Whether close() closes the archive (false when it is shared, as a bundle's is). */
    private readonly owned = true,
  ) {}

  /** The image `top` (an index.json entry) of an archive that stays open after close(). */
  static fromArchive(
    reference: ImageReference,
    archive: ArchiveFile,
    top: Descriptor,
    ctx: TransportContext = {},
  ): OciArchiveSource {
    return new OciArchiveSource(reference, archive, top, ctx, false)
  }

  static async open(
    reference: ImageReference,
    path: string,
    sel: OciSelection,
    ctx: TransportContext = {},
  ): Promise<OciArchiveSource> {
    const what = reference.toString()
    const archive = await ArchiveFile.open(path, what, ctx.signal)
    try {
      return new OciArchiveSource(
        reference,
        archive,
        selectEntry(await readOciIndex(archive), sel, what),
        ctx,
      )
    } catch (err) {
      await archive.close()
      throw err
    }
  }

  private blobEntry(digest: string): TarEntry {
    // parseManifest validated every digest, so this names a path under blobs/ and nowhere else.
    const [alg, hex] = digest.split(':')
    return this.archive.file(`blobs/${alg}/${hex}`, `blob ${digest}`)
  }

  async getManifest(digest?: string): Promise<RawManifest> {
    const d = digest ?? this.top.digest
    const bytes = await this.archive.read(this.blobEntry(d), MAX_JSON)
    verifyBytes(bytes, d, `manifest ${d} in ${this.reference}`)
    const declared = digest ? undefined : this.top.mediaType
    return { bytes, digest: d, mediaType: declared || sniffManifestType(bytes) }
  }

  async getBlob(desc: Descriptor): Promise<BlobStream> {
    const entry = this.blobEntry(desc.digest)
    return { stream: this.archive.stream(entry, this.ctx.signal), size: entry.size }
  }

  async close(): Promise<void> {
    if (this.owned) await this.archive.close()
  }
}

function normalized(name: string | undefined): string | undefined {
  if (!name) return undefined
  try {
    return parseDockerRef(name).toString()
  } catch {
    return undefined
  }
}

/**
 * The index.json entry REF names: its ref.name annotation equal to REF, else the ref.name or the
 * containerd image name equal to REF after normalization (podman writes `localhost/app:1` there).
 */
export function selectEntry(entries: Descriptor[], sel: OciSelection, what: string): Descriptor {
  return selectArchiveImage(entries, sel, what, {
    listFile: 'index.json',
    labels: entries.map((e) => e.annotations?.[REF_NAME] ?? e.annotations?.[CONTAINERD_NAME] ?? e.digest),
    byName: (want) => {
      const exact = entries.find((e) => e.annotations?.[REF_NAME] === want)
      if (exact) return exact
      const norm = normalized(want)
      return norm
        ? entries.find((e) =>
            [e.annotations?.[REF_NAME], e.annotations?.[CONTAINERD_NAME]].some((n) => normalized(n) === norm),
          )
        : undefined
    },
  })
}
