/**
 * Reading from a Docker Engine: `GET /images/{id}/get` (docker save of one image) spooled to a
 * temporary file, read by the docker-archive source, removed on close.
 */
import { createWriteStream } from 'node:fs'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { dockerClient, dockerError } from '../../engine/docker-api.js'
import { openArchiveReader } from '../../engine/docker-archive-file.js'
import { resolveLocalImage } from '../../engine/resolve-image.js'
import { SpooledSource } from '../../engine/spooled-source.js'
import { makeTempDir } from '../../engine/temp-dir.js'
import type { ImageSource, TransportContext } from '../transport.js'
import type { DockerDaemonReference } from './transport.js'

export async function openDockerSource(
  ref: DockerDaemonReference,
  ctx: TransportContext,
): Promise<ImageSource> {
  const opts = ctx.engine ?? {}
  const image = await resolveLocalImage('docker', ref.query, opts)
  const docker = await dockerClient(opts)
  const tmp = await makeTempDir(opts, 'docker-save')
  try {
    const file = join(tmp.path, 'image.tar')
    try {
      const stream = await docker.getImage(image.id).get()
      await pipeline(stream, createWriteStream(file), { signal: ctx.signal })
    } catch (err) {
      ctx.signal?.throwIfAborted()
      throw dockerError(err, `saving ${ref} (${image.id})`, opts)
    }
    const inner = await openArchiveReader(file, ctx)
    return new SpooledSource(ref, inner, tmp)
  } catch (err) {
    await tmp.remove()
    throw err
  }
}
