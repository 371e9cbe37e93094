/**
 * Opening a bundle for reading: its files (one, or split parts read as one), the tar index (every
 * entry checked: no absolute names, no `..`, no links, nothing but the layout's files), and
 * index.json's images. Nothing is extracted; images are read as byte ranges of the bundle.
 */
import { AirlockError } from '../errors.js'
import { type Descriptor, MEDIA, parseManifest } from '../manifest.js'
import { ArchiveFile, MAX_JSON } from '../transports/archive/archive-file.js'
import { OciArchiveSource } from '../transports/oci-archive/source.js'
import type { ImageReference } from '../transports/transport.js'
import { BundleReference } from './bundle-reference.js'
import { ANN, checkEntry, INDEX_FILE } from './layout.js'
import { type BundleFiles, findBundleFiles, PartsReader } from './parts.js'

export interface BundleImage {
  /** The source reference (ref.name), or the digest when the entry has no name. */
  reference: string
  digest: string
  mediaType: string
  /** Size of the top manifest. */
  size: number
  annotations: Record<string, string>
  /** For a signature/attestation tag: the digest of the image it belongs to. */
  referrerOf?: string
  /** The index.json entry itself. */
  descriptor: Descriptor
}

/** The error for a split bundle some of whose parts are not there. */
function missingParts(files: BundleFiles): AirlockError {
  const n = files.missing.length
  const all = files.parts.length + n
  return new AirlockError(
    'INVALID_INPUT',
    `${files.missing.join(', ')} ${n === 1 ? 'is' : 'are'} missing (${n} of the ${all} parts of ${files.base}), so the bundle cannot be read`,
    {
      hint: `copy the missing part${n === 1 ? '' : 's'} again from where the bundle was made and put ${n === 1 ? 'it' : 'them'} beside the others; airlock bundle verify ${files.base} checks each part that is there`,
    },
  )
}

export class Bundle {
  private constructor(
    readonly files: BundleFiles,
    readonly archive: ArchiveFile,
    /** index.json's own annotations. */
    readonly annotations: Record<string, string>,
    readonly images: BundleImage[],
    readonly partSizes: number[],
  ) {}

  /** How messages name the bundle. */
  get what(): string {
    return this.files.split
      ? `bundle ${this.files.base} (${this.files.parts.length} parts)`
      : `bundle ${this.files.base}`
  }

  /** The bundle at `path` (or its parts); NOT_FOUND-style INVALID_INPUT when there is none. */
  static async open(path: string, signal?: AbortSignal): Promise<Bundle> {
    const b = await Bundle.openIfExists(path, signal)
    if (!b) {
      throw new AirlockError('INVALID_INPUT', `${path} does not exist (nor ${path}.001, a first part)`, {
        hint: 'give the bundle file written by airlock bundle create -o FILE, or its first part',
      })
    }
    return b
  }

  static async openIfExists(path: string, signal?: AbortSignal): Promise<Bundle | undefined> {
    const files = await findBundleFiles(path)
    if (!files) return undefined
    if (files.missing.length) throw missingParts(files)
    const reader = await PartsReader.open(files.parts)
    const what = files.split ? `${files.base} (parts)` : files.base
    const archive = await ArchiveFile.fromReader(reader, reader.size, files.base, what, signal)
    try {
      for (const e of archive.entries.values()) checkEntry(e.name, e.kind, what)
      if (!archive.has(INDEX_FILE)) {
        throw new AirlockError('INVALID_INPUT', `${what} has no index.json, so it is not a bundle`, {
          hint: archive.has('manifest.json')
            ? 'it is a docker save archive; read it with docker-archive:FILE, or make a bundle of it with airlock bundle create'
            : 'give a file written by airlock bundle create (or any OCI archive)',
        })
      }
      const bytes = await archive.read(archive.file(INDEX_FILE, INDEX_FILE), MAX_JSON)
      const index = parseManifest(bytes, MEDIA.ociIndex, `${what} (index.json)`)
      if (index.kind !== 'index')
        throw new AirlockError('INVALID_INPUT', `${what}: index.json is not an image index`)
      const images = index.children.map((d): BundleImage => {
        const annotations = d.annotations ?? {}
        const img: BundleImage = {
          reference: annotations[ANN.refName] ?? d.digest,
          digest: d.digest,
          mediaType: d.mediaType,
          size: d.size,
          annotations,
          descriptor: d,
        }
        if (annotations[ANN.referrerOf]) img.referrerOf = annotations[ANN.referrerOf]
        return img
      })
      return new Bundle(files, archive, index.annotations ?? {}, images, reader.sizes)
    } catch (err) {
      await archive.close()
      throw err
    }
  }

  /** A reference that reads `image` out of this (open) bundle, for the copy engine. */
  reference(image: BundleImage): ImageReference {
    return new BundleReference(this.files.base, image.reference, {
      source: (ref, ctx) => OciArchiveSource.fromArchive(ref, this.archive, image.descriptor, ctx),
    })
  }

  async close(): Promise<void> {
    await this.archive.close()
  }
}
