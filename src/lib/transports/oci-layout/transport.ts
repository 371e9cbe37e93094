/**
 * The `oci:` transport: an OCI image layout directory (image-spec image-layout.md):
 * `oci-layout`, `index.json`, `blobs/<alg>/<hex>`. `oci:DIR[:NAME]`; NAME is matched against the
 * `org.opencontainers.image.ref.name` annotation of index.json entries, as skopeo does (the path
 * ends at the first colon).
 *
 * Writes are atomic: blobs land under a temporary name and are renamed when complete and verified;
 * index.json is replaced by rename in `commit`, so a reader never sees a half-written layout.
 */
import { randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { hexOf, verifyBytes } from '../../digest.js'
import { AirlockError } from '../../errors.js'
import { type Descriptor, MEDIA, sniffManifestType } from '../../manifest.js'
import { isValidDigest } from '../../reference.js'
import type {
  ImageDestination,
  ImageReference,
  ImageSource,
  RawManifest,
  ReuseResult,
  Transport,
  TransportContext,
} from '../transport.js'

export const REF_NAME = 'org.opencontainers.image.ref.name'

interface OciIndex {
  schemaVersion: 2
  mediaType?: string
  manifests: Descriptor[]
  [k: string]: unknown
}

export class OciLayoutReference implements ImageReference {
  readonly transport: Transport = ociTransport
  constructor(
    readonly dir: string,
    readonly name: string | undefined,
  ) {}

  get within(): string {
    return this.name ? `${this.dir}:${this.name}` : this.dir
  }

  toString(): string {
    return `oci:${this.within}`
  }

  blobPath(digest: string): string {
    // Digests come from index.json and manifests: never let one name a path outside blobs/.
    if (!isValidDigest(digest)) {
      throw new AirlockError(
        'INVALID_INPUT',
        `${this} refers to an invalid digest ${JSON.stringify(digest)}`,
        {
          hint: 'the layout is corrupt or hostile; a digest is algorithm:hex, e.g. sha256 and 64 lowercase hex characters',
        },
      )
    }
    return join(this.dir, 'blobs', digest.split(':')[0], hexOf(digest))
  }

  async readIndex(required: boolean): Promise<OciIndex | undefined> {
    let text: string
    try {
      text = await readFile(join(this.dir, 'index.json'), 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !required) return undefined
      throw new AirlockError(
        'NOT_FOUND',
        `${this} is not an OCI layout: ${join(this.dir, 'index.json')} is missing`,
        {
          hint: 'give the directory that holds oci-layout and index.json',
        },
      )
    }
    try {
      const doc = JSON.parse(text) as OciIndex
      if (!Array.isArray(doc.manifests)) throw new Error('no manifests')
      return doc
    } catch {
      throw new AirlockError('INVALID_INPUT', `${join(this.dir, 'index.json')} is not a valid OCI index`)
    }
  }

  async newSource(ctx: TransportContext = {}): Promise<ImageSource> {
    const index = (await this.readIndex(true))!
    return new OciLayoutSource(this, pickEntry(this, index), ctx)
  }

  async newDestination(_ctx: TransportContext = {}): Promise<ImageDestination> {
    await mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true })
    const layoutFile = join(this.dir, 'oci-layout')
    try {
      await stat(layoutFile)
    } catch {
      await writeFile(layoutFile, JSON.stringify({ imageLayoutVersion: '1.0.0' }))
    }
    return new OciLayoutDestination(this)
  }
}

function pickEntry(ref: OciLayoutReference, index: OciIndex): Descriptor {
  const names = index.manifests.map((m) => m.annotations?.[REF_NAME]).filter((n): n is string => !!n)
  if (ref.name) {
    const hit = index.manifests.find((m) => m.annotations?.[REF_NAME] === ref.name)
    if (hit) return hit
    throw new AirlockError('NOT_FOUND', `${ref} not found: the layout has no image named "${ref.name}"`, {
      hint: names.length ? `images in ${ref.dir}: ${names.join(', ')}` : `${ref.dir} holds no named images`,
    })
  }
  if (index.manifests.length === 1) return index.manifests[0]
  throw new AirlockError('INVALID_INPUT', `${ref} holds ${index.manifests.length} images; say which one`, {
    hint: names.length
      ? `use oci:${ref.dir}:NAME with NAME one of: ${names.join(', ')}`
      : 'the layout is empty',
  })
}

export const ociTransport: Transport = {
  name: 'oci',
  parse(within: string): ImageReference {
    if (!within) throw new AirlockError('INVALID_REFERENCE', 'oci: needs a directory, as in oci:DIR[:NAME]')
    const i = within.indexOf(':')
    const dir = i < 0 ? within : within.slice(0, i)
    const name = i < 0 ? undefined : within.slice(i + 1)
    if (!dir) throw new AirlockError('INVALID_REFERENCE', `oci:${within} has no directory`)
    if (name !== undefined && !/^[A-Za-z0-9._:@/+-]+$/.test(name)) {
      throw new AirlockError(
        'INVALID_REFERENCE',
        `oci:${within}: image name "${name}" has characters a ref.name may not`,
        {
          hint: 'use letters, digits and . _ - : @ / +',
        },
      )
    }
    return new OciLayoutReference(resolve(dir), name || undefined)
  },
}

class OciLayoutSource implements ImageSource {
  readonly capabilities = { concurrentBlobs: true }

  constructor(
    readonly reference: OciLayoutReference,
    private readonly entry: Descriptor,
    private readonly ctx: TransportContext,
  ) {}

  async getManifest(digest?: string): Promise<RawManifest> {
    const d = digest ?? this.entry.digest
    const bytes = await this.readBlob(d)
    verifyBytes(bytes, d, `manifest ${d} in ${this.reference}`)
    const mediaType = digest ? '' : (this.entry.mediaType ?? '')
    return { bytes, digest: d, mediaType: mediaType || sniffManifestType(bytes) }
  }

  private async readBlob(digest: string): Promise<Buffer> {
    const path = this.reference.blobPath(digest)
    try {
      return await readFile(path)
    } catch {
      throw new AirlockError('NOT_FOUND', `${this.reference} is missing blob ${digest}`, {
        hint: 'the layout is incomplete; copy the image into it again',
      })
    }
  }

  async getBlob(desc: Descriptor): Promise<{ stream: Readable; size: number }> {
    const path = this.reference.blobPath(desc.digest)
    let size: number
    try {
      size = (await stat(path)).size
    } catch {
      throw new AirlockError('NOT_FOUND', `${this.reference} is missing blob ${desc.digest}`, {
        hint: 'the layout is incomplete; copy the image into it again',
      })
    }
    return { stream: createReadStream(path, { highWaterMark: 1 << 20, signal: this.ctx.signal }), size }
  }

  async close(): Promise<void> {}
}

class OciLayoutDestination implements ImageDestination {
  readonly capabilities = { concurrentBlobs: true, canMount: false }

  constructor(readonly reference: OciLayoutReference) {}

  async currentDigest(): Promise<string | undefined> {
    const index = await this.reference.readIndex(false)
    if (!index || !this.reference.name) return undefined
    return index.manifests.find((m) => m.annotations?.[REF_NAME] === this.reference.name)?.digest
  }

  async hasManifest(digest: string): Promise<boolean> {
    return this.exists(digest, -1)
  }

  private async exists(digest: string, size: number): Promise<boolean> {
    try {
      const st = await stat(this.reference.blobPath(digest))
      return size < 0 || st.size === size
    } catch {
      return false
    }
  }

  async tryReuseBlob(desc: Descriptor): Promise<ReuseResult> {
    return (await this.exists(desc.digest, desc.size)) ? 'exists' : undefined
  }

  private tempPath(digest: string): string {
    return `${this.reference.blobPath(digest)}.${randomBytes(6).toString('hex')}.partial`
  }

  async putBlob(desc: Descriptor, stream: Readable): Promise<void> {
    const final = this.reference.blobPath(desc.digest)
    await mkdir(join(final, '..'), { recursive: true })
    const tmp = this.tempPath(desc.digest)
    try {
      await pipeline(stream, createWriteStream(tmp))
      await rename(tmp, final)
    } catch (err) {
      await unlink(tmp).catch(() => undefined)
      throw err
    }
  }

  async putManifest(m: RawManifest): Promise<void> {
    if (await this.exists(m.digest, m.bytes.length)) return
    const final = this.reference.blobPath(m.digest)
    await mkdir(join(final, '..'), { recursive: true })
    const tmp = this.tempPath(m.digest)
    await writeFile(tmp, m.bytes)
    await rename(tmp, final)
  }

  async commit(top: RawManifest): Promise<void> {
    const index: OciIndex = (await this.reference.readIndex(false)) ?? {
      schemaVersion: 2,
      mediaType: MEDIA.ociIndex,
      manifests: [],
    }
    const name = this.reference.name
    index.manifests = index.manifests.filter((m) =>
      name ? m.annotations?.[REF_NAME] !== name : !(m.digest === top.digest && !m.annotations?.[REF_NAME]),
    )
    index.manifests.push({
      mediaType: top.mediaType,
      digest: top.digest,
      size: top.bytes.length,
      ...(name ? { annotations: { [REF_NAME]: name } } : {}),
    })
    const file = join(this.reference.dir, 'index.json')
    const tmp = `${file}.${randomBytes(6).toString('hex')}.partial`
    await writeFile(tmp, JSON.stringify(index))
    await rename(tmp, file)
  }

  async close(): Promise<void> {}
}

/** Reads a manifest or blob by digest from a layout, checking it. For tests and inspection. */
export async function readLayoutBlob(ref: OciLayoutReference, digest: string): Promise<Buffer> {
  const bytes = await readFile(ref.blobPath(digest))
  verifyBytes(bytes, digest, `blob ${digest} in ${ref}`)
  return bytes
}
