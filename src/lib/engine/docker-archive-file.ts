/**
 * The docker-archive files engines exchange (`docker save`/`podman load` format), opened through the
 * `docker-archive:` transport's reference class, so any temporary path works (no reference text
 * to parse: a ":" in TMPDIR is fine).
 */
import type { ImageRef } from '../reference.js'
import { DockerArchiveReference } from '../transports/docker-archive/transport.js'
import type { ImageDestination, ImageSource, TransportContext } from '../transports/transport.js'

/** A new docker-archive at `file` holding one image with RepoTags [name]. */
export function openArchiveWriter(
  file: string,
  name: ImageRef,
  ctx: TransportContext,
): Promise<ImageDestination> {
  return new DockerArchiveReference(file, name).newDestination(ctx)
}

/** The only image of the docker-archive at `file`. */
export function openArchiveReader(file: string, ctx: TransportContext): Promise<ImageSource> {
  return new DockerArchiveReference(file).newSource(ctx)
}
