/**
 * `airlock save REF -o FILE`: an image into a docker-archive (default, what `docker load`, `podman
 * load` and `apptainer build x.sif docker-archive://x.tar` read) or an oci-archive. REF is a local
 * engine image (name or ID), or any transport reference (`docker://…`, `oci:…`).
 */
import { resolve } from 'node:path'
import { type CopyResult, copyImage } from '../copy/copy-image.js'
import { detectEngine, engineTransportRef, lookupLocalImage } from '../engine/index.js'
import { AirlockError } from '../errors.js'
import { parseDockerRef } from '../reference.js'
import { DockerArchiveReference } from '../transports/docker-archive/transport.js'
import { OciArchiveReference } from '../transports/oci-archive/transport.js'
import type { EngineFlowOptions } from './options.js'

export type ArchiveFormat = 'docker-archive' | 'oci-archive'

export interface SaveResult {
  source: string
  file: string
  format: ArchiveFormat
  /** The name recorded in the archive (RepoTags / ref.name), if any. */
  name?: string
  copy: CopyResult
}

const TRANSPORT = /^(docker|oci|docker-archive|oci-archive|containers-storage|docker-daemon):/

export async function saveImage(
  ref: string,
  output: string,
  format: ArchiveFormat = 'docker-archive',
  opts: EngineFlowOptions = {},
): Promise<SaveResult> {
  if (!output) throw new AirlockError('INVALID_INPUT', 'no output file given', { hint: 'add -o FILE.tar' })
  const file = resolve(output)
  let source: string
  let name: string | undefined
  if (TRANSPORT.test(ref)) {
    source = ref
    if (ref.startsWith('docker://')) name = parseDockerRef(ref.slice(9)).toString()
  } else {
    const engine = await detectEngine({ ...opts.engineOptions, engine: opts.engine })
    const found = await lookupLocalImage(engine, ref, opts.engineOptions)
    const local = found.image
    source = engineTransportRef(engine, local.id)
    // The name the engine found the image under (`app:1` → `localhost/app:1`), as `podman save` records.
    name = /^(sha256:)?[0-9a-f]{3,64}$/.test(ref)
      ? local.names[0]
      : (found.name ?? parseDockerRef(ref).toString())
  }
  const tagged = name && !name.includes('@') ? name : undefined
  const target =
    format === 'docker-archive'
      ? new DockerArchiveReference(file, tagged)
      : new OciArchiveReference(file, tagged)
  const copy = await copyImage(source, target, {
    platforms: opts.platforms,
    jobs: opts.jobs,
    signal: opts.signal,
    onEvent: opts.onEvent,
    source: { registry: opts.registry, engine: opts.engineOptions, signal: opts.signal },
    destination: { signal: opts.signal },
  })
  return { source, file, format, name: tagged, copy }
}
