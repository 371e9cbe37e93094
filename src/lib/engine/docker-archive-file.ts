/**
 * The docker-archive files engines exchange (`docker save`/`podman load` format), opened through the
 * `docker-archive:` transport exactly as a user would name them: `docker-archive:FILE[:NAME]`.
 */
import { AirlockError } from '../errors.js'
import type { ImageRef } from '../reference.js'
import { dockerArchiveTransport } from '../transports/docker-archive/transport.js'
import type { ImageDestination, ImageSource, TransportContext } from '../transports/transport.js'

function checkPath(file: string): void {
  // docker-archive:FILE[:NAME] ends the path at the first colon.
  if (file.includes(':')) {
    throw new AirlockError('INVALID_INPUT', `the temporary file ${file} has a ":" in its path`, {
      hint: 'set TMPDIR (or the temporary directory option) to a directory without ":" in its path',
    })
  }
}

/** A new docker-archive at `file` holding one image with RepoTags [name]. */
export function openArchiveWriter(
  file: string,
  name: ImageRef,
  ctx: TransportContext,
): Promise<ImageDestination> {
  checkPath(file)
  return dockerArchiveTransport.parse(`${file}:${name.toString()}`).newDestination(ctx)
}

/** The only image of the docker-archive at `file`. */
export function openArchiveReader(file: string, ctx: TransportContext): Promise<ImageSource> {
  checkPath(file)
  return dockerArchiveTransport.parse(file).newSource(ctx)
}
