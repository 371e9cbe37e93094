/**
 * `airlock pull REF`: a registry image into the local engine (podman first, else docker), through
 * the copy engine: `docker://REF` → `containers-storage:REF` or `docker-daemon:REF`. One platform
 * (this machine's unless --platform), as `podman pull` does.
 */
import type { CopyResult } from '../copy/copy-image.js'
import { detectEngine, engineTransportRef, resolveLocalImage } from '../engine/index.js'
import { checkedCopy, type QuotaFlowOptions } from '../quota/checked-copy.js'
import type { SpaceCheck } from '../quota/preflight.js'
import { parseDockerRef } from '../reference.js'
import type { EngineFlowOptions, EngineName } from './options.js'

export interface PullResult {
  engine: EngineName
  reference: string
  /** Image ID in the engine (the config digest). */
  id: string
  copy: CopyResult
  /** The space check before the pull (podman): needed, available, forced. */
  preflight?: SpaceCheck
}

export async function pullImage(
  ref: string,
  opts: EngineFlowOptions & { quota?: QuotaFlowOptions } = {},
): Promise<PullResult> {
  const parsed = parseDockerRef(ref.replace(/^docker:\/\//, ''))
  const engine = await detectEngine({ ...opts.engineOptions, engine: opts.engine })
  const name = parsed.toString()
  const { preflight, ...copy } = await checkedCopy(`docker://${name}`, engineTransportRef(engine, name), {
    quota: opts.quota,
    what: `pulling ${name}`,
    platforms: opts.platforms,
    jobs: opts.jobs,
    signal: opts.signal,
    onEvent: opts.onEvent,
    source: { registry: opts.registry, signal: opts.signal },
    destination: { engine: opts.engineOptions, signal: opts.signal },
  })
  const local = await resolveLocalImage(engine, name, opts.engineOptions)
  return { engine, reference: name, id: local.id, copy, ...(preflight ? { preflight } : {}) }
}
