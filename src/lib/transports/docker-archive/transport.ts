/**
 * The `docker-archive:` transport: `docker save` / `podman save` / skopeo tar archives
 * (Docker Image Specification v1.2, "Combined Image JSON + Filesystem Changeset Format").
 *
 * `docker-archive:FILE[:REF]`, as skopeo takes it: the path ends at the first colon. Reading, REF
 * picks an image of a multi-image archive by name (compared normalized: `alpine` is
 * `docker.io/library/alpine:latest`) or by position (`@N`, from 0); writing, REF is the name the
 * archive gives the image (RepoTags), none when absent. A written archive holds one image and
 * replaces FILE only when complete.
 */
import { resolve } from 'node:path'
import { AirlockError } from '../../errors.js'
import { type ImageRef, parseDockerRef } from '../../reference.js'
import { parseArchiveLocation } from '../archive/archive-reference.js'
import type {
  ImageDestination,
  ImageReference,
  ImageSource,
  Transport,
  TransportContext,
} from '../transport.js'
import { DockerArchiveDestination } from './destination.js'
import { DockerArchiveSource } from './source.js'

export { listDockerArchive } from './source.js'

export class DockerArchiveReference implements ImageReference {
  readonly transport: Transport = dockerArchiveTransport
  /** The image name (normalized, with a tag), when REF is a name. */
  readonly ref?: ImageRef
  readonly path: string

  /**
   * @param path the archive file (made absolute)
   * @param ref image name: to select when reading, for RepoTags when writing
   * @param index `@N` when reading a multi-image archive
   */
  constructor(
    path: string,
    ref?: string | ImageRef,
    readonly index?: number,
  ) {
    this.path = resolve(path)
    if (ref !== undefined && index !== undefined) {
      throw new AirlockError('INVALID_REFERENCE', 'docker-archive: give an image name or @N, not both')
    }
    if (ref !== undefined) this.ref = taggedName(typeof ref === 'string' ? ref : ref.toString())
  }

  get within(): string {
    if (this.ref) return `${this.path}:${this.ref.toString()}`
    return this.index === undefined ? this.path : `${this.path}:@${this.index}`
  }

  toString(): string {
    return `docker-archive:${this.within}`
  }

  async newSource(ctx: TransportContext = {}): Promise<ImageSource> {
    return DockerArchiveSource.open(this, this.path, { name: this.ref, index: this.index }, ctx)
  }

  async newDestination(_ctx: TransportContext = {}): Promise<ImageDestination> {
    if (this.index !== undefined) {
      throw new AirlockError(
        'INVALID_REFERENCE',
        `${this}: @N selects an image to read; it cannot name one to write`,
        {
          hint: 'write docker-archive:FILE or docker-archive:FILE:NAME:TAG',
        },
      )
    }
    return DockerArchiveDestination.create(this, this.path, this.ref)
  }
}

/** A name with a tag (latest when none), as containers/image requires; digests are refused. */
function taggedName(text: string): ImageRef {
  const ref = parseDockerRef(text)
  if (ref.digest) {
    throw new AirlockError(
      'INVALID_REFERENCE',
      `docker-archive: ${text} has a digest; archives name images by tag`,
      {
        hint: 'use NAME:TAG, e.g. docker-archive:x.tar:docker.io/library/alpine:3.20',
      },
    )
  }
  return ref
}

export const dockerArchiveTransport: Transport = {
  name: 'docker-archive',
  parse(within: string): ImageReference {
    const loc = parseArchiveLocation('docker-archive', within)
    return new DockerArchiveReference(loc.path, loc.rest, loc.index)
  },
}
