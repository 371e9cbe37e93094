/**
 * The `oci-archive:` transport: a tar file holding an OCI image layout (image-spec image-layout.md).
 *
 * `oci-archive:FILE[:REF]`, as skopeo takes it: the path ends at the first colon. Reading, REF picks
 * the index.json entry whose `org.opencontainers.image.ref.name` annotation is REF (or, failing that,
 * whose name equals REF once both are normalized as image references), or `@N` picks the N-th entry;
 * writing, REF becomes that annotation. A written archive holds the image as copied (a whole index
 * when the source is one, every digest kept) and replaces FILE only when complete.
 */
import { resolve } from 'node:path'
import { AirlockError } from '../../errors.js'
import { parseArchiveLocation } from '../archive/archive-reference.js'
import type {
  ImageDestination,
  ImageReference,
  ImageSource,
  Transport,
  TransportContext,
} from '../transport.js'
import { OciArchiveDestination } from './destination.js'
import { OciArchiveSource } from './source.js'

export class OciArchiveReference implements ImageReference {
  readonly transport: Transport = ociArchiveTransport
  readonly path: string

  /**
   * @param path the archive file (made absolute)
   * @param name ref.name: to select when reading, to write into index.json when writing
   * @param index `@N` when reading an archive with several entries
   */
  constructor(
    path: string,
    readonly name?: string,
    readonly index?: number,
  ) {
    this.path = resolve(path)
    if (name !== undefined && index !== undefined) {
      throw new AirlockError('INVALID_REFERENCE', 'oci-archive: give an image name or @N, not both')
    }
    if (name !== undefined && !/^[A-Za-z0-9._:@/+-]+$/.test(name)) {
      throw new AirlockError(
        'INVALID_REFERENCE',
        `oci-archive: image name "${name}" has characters a ref.name may not`,
        {
          hint: 'use letters, digits and . _ - : @ / +',
        },
      )
    }
  }

  get within(): string {
    if (this.name) return `${this.path}:${this.name}`
    return this.index === undefined ? this.path : `${this.path}:@${this.index}`
  }

  toString(): string {
    return `oci-archive:${this.within}`
  }

  async newSource(ctx: TransportContext = {}): Promise<ImageSource> {
    return OciArchiveSource.open(this, this.path, { name: this.name, index: this.index }, ctx)
  }

  async newDestination(_ctx: TransportContext = {}): Promise<ImageDestination> {
    if (this.index !== undefined) {
      throw new AirlockError(
        'INVALID_REFERENCE',
        `${this}: @N selects an image to read; it cannot name one to write`,
        {
          hint: 'write oci-archive:FILE or oci-archive:FILE:NAME',
        },
      )
    }
    return OciArchiveDestination.create(this, this.path, this.name)
  }
}

export const ociArchiveTransport: Transport = {
  name: 'oci-archive',
  parse(within: string): ImageReference {
    const loc = parseArchiveLocation('oci-archive', within)
    return new OciArchiveReference(loc.path, loc.rest, loc.index)
  },
}
