/**
 * `airlock tag SRC TARGET...` where the image lives:
 * - `docker://REF`: in its registry (the manifest PUT under new tags, no blob moves);
 * - `containers-storage:REF` / `docker-daemon:REF`, or `--engine`: in that engine;
 * - a bare name or image ID (full or short): in the local engine when it holds that image (as
 *   `podman tag` does), else in the registry the name points at.
 * With a Harbor project given, engine targets without a registry host go into
 * `<harbor>/<project>/name:tag`.
 */
import { detectEngine, resolveLocalImage, tagLocalImage } from '../engine/index.js'
import { AirlockError } from '../errors.js'
import { tagImage } from '../registry-ops.js'
import { hasExplicitHost, pushTarget } from './destination.js'
import type { EngineFlowOptions, EngineName, Notice } from './options.js'

export interface TagAnywhereResult {
  /** Where the tags were written. */
  where: EngineName | 'registry'
  source: string
  /** Image ID (engines). */
  id?: string
  /** Manifest digest the new tags point at (registries). */
  digest?: string
  tagged: string[]
  notices: Notice[]
}

const ID_LIKE = /^(sha256:)?[0-9a-f]{6,64}$/

const ENGINE_PREFIX: Record<string, EngineName> = {
  'containers-storage:': 'podman',
  'docker-daemon:': 'docker',
}

export async function tagAnywhere(
  src: string,
  targets: string[],
  opts: EngineFlowOptions = {},
): Promise<TagAnywhereResult> {
  if (!targets.length)
    throw new AirlockError('INVALID_INPUT', 'no target given', { hint: 'airlock tag SOURCE TARGET...' })
  if (src.startsWith('docker://')) return registryTag(src, targets, opts)
  const prefix = Object.keys(ENGINE_PREFIX).find((p) => src.startsWith(p))
  const forced = prefix ? ENGINE_PREFIX[prefix] : opts.engine
  const bare = prefix ? src.slice(prefix.length) : src
  let engine: EngineName | undefined = forced
  if (!engine) {
    engine = await detectEngine({ ...opts.engineOptions }).catch(() => undefined)
    if (engine) {
      const held = await resolveLocalImage(engine, bare, opts.engineOptions).then(
        () => true,
        (err) => {
          // Not held: an unknown name, or an unknown ID (INVALID_INPUT). A name matching several
          // local images (INVALID_INPUT too) is an answer to show, not a reason to go to a registry.
          if (err instanceof AirlockError && err.code === 'NOT_FOUND') return false
          if (err instanceof AirlockError && err.code === 'INVALID_INPUT' && ID_LIKE.test(bare)) return false
          throw err
        },
      )
      if (!held) {
        if (ID_LIKE.test(bare)) {
          throw new AirlockError('NOT_FOUND', `no image with ID ${bare} in ${engine}`, {
            hint: `list images with: ${engine} images`,
          })
        }
        engine = undefined
      }
    }
  }
  if (!engine) return registryTag(src, targets, opts)

  const notices: Notice[] = []
  const names = targets.map((t) => {
    if (opts.harbor?.project && !hasExplicitHost(t)) {
      const target = pushTarget(undefined, t, opts.harbor)
      notices.push(...target.notices)
      return target.reference
    }
    return t
  })
  const r = await tagLocalImage(engine, bare, names, opts.engineOptions)
  return { where: engine, source: bare, id: r.id, tagged: r.tagged, notices }
}

async function registryTag(
  src: string,
  targets: string[],
  opts: EngineFlowOptions,
): Promise<TagAnywhereResult> {
  const r = await tagImage(src, targets, opts.registry, opts.signal)
  return { where: 'registry', source: r.source, digest: r.digest, tagged: r.tagged, notices: [] }
}
