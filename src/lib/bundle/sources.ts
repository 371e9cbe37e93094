/**
 * What goes into a bundle: the images named on the command line, or the tags a mirror spec selects
 * (the same planning as `airlock mirror`, so the spec's naming is recorded for `bundle push`).
 */
import { AirlockError } from '../errors.js'
import { type Platform, parsePlatform } from '../manifest.js'
import { formatNaming } from '../mirror/naming.js'
import { loadMirrorSpec } from '../mirror/spec.js'
import { openSpecSession, planSpec, type SpecSession } from '../mirror/spec-session.js'
import { parseDockerRef } from '../reference.js'
import { listTags } from '../registry-ops.js'
import { parseImageReference } from '../transports/index.js'
import type { RegistryOptions } from '../transports/registry/options.js'
import { DockerReference } from '../transports/registry/transport.js'
import { ANN } from './layout.js'

export interface BundleItem {
  /** Reference the copy engine reads (docker://…, containers-storage:…). */
  source: string
  /** Name in the bundle: the full reference (docker.io/library/alpine:3.20). */
  name: string
  platforms?: Platform[]
  referrers: boolean
  annotations: Record<string, string>
  /** Registry host of a docker:// source, for its options. */
  registry?: string
}

export interface ResolvedItems {
  items: BundleItem[]
  errors: Array<{ source: string; code: string; message: string }>
  optionsFor: (registry: string) => RegistryOptions
  /** Tags of a source repository (for signature tags), listed once. */
  tagsOf: (repository: string, signal?: AbortSignal) => Promise<string[]>
  session?: SpecSession
}

/** Items for REF arguments: registry references (with or without docker://) or other transports. */
export function itemsFromRefs(
  refs: string[],
  platforms: string[] | undefined,
  referrers: boolean,
): BundleItem[] {
  const plats = platforms?.map(parsePlatform)
  return refs.map((text) => {
    const ref = parseImageReference(text)
    let name: string
    let registry: string | undefined
    if (ref instanceof DockerReference) {
      name = ref.ref.toString()
      registry = ref.ref.registry
    } else {
      try {
        name = parseDockerRef(ref.within).toString()
      } catch {
        throw new AirlockError(
          'INVALID_INPUT',
          `${text}: cannot tell the image's name to record in the bundle`,
          {
            hint: 'give a registry reference (docker.io/library/alpine:3.20), or a local image by its name (containers-storage:localhost/app:1)',
          },
        )
      }
    }
    const item: BundleItem = { source: ref.toString(), name, referrers, annotations: {} }
    if (registry) item.registry = registry
    if (plats) item.platforms = plats
    return item
  })
}

/** Items for `-f SPEC`: every planned tag, with the target its naming gives recorded. */
export async function itemsFromSpec(
  file: string,
  opts: { platforms?: string[]; referrers?: boolean; env?: NodeJS.ProcessEnv; signal?: AbortSignal },
): Promise<ResolvedItems> {
  const spec = await loadMirrorSpec(file)
  const session = openSpecSession(spec, opts.env)
  // A source registry's password variable that is not set: refuse before anything is fetched (exit 2).
  for (const image of spec.images) session.optionsFor(parseDockerRef(image.source).registry)
  const plan = await planSpec(session, { signal: opts.signal, listAll: opts.referrers })
  const items = plan.images.map((p): BundleItem => {
    const source = parseDockerRef(p.source.replace(/^docker:\/\//, ''))
    const image = spec.images[p.specIndex]
    const annotations: Record<string, string> = {
      [ANN.target]: p.target.replace(/^docker:\/\//, ''),
      [ANN.naming]: formatNaming(image.naming ?? spec.defaults.naming),
    }
    if (image.target !== undefined) annotations[ANN.targetPath] = image.target
    const platforms = opts.platforms ?? p.platforms
    return {
      source: p.source,
      name: source.toString(),
      registry: source.registry,
      referrers: opts.referrers ?? p.referrers,
      annotations,
      ...(platforms?.length ? { platforms: platforms.map(parsePlatform) } : {}),
    }
  })
  const errors = [
    ...plan.errors,
    ...plan.missing.map((m) => ({
      source: m.source,
      code: 'NOT_FOUND',
      message: `tag ${m.tag} is not in ${m.source}`,
    })),
  ]
  const listed = plan.sourceTags
  return {
    items,
    errors,
    optionsFor: session.optionsFor,
    session,
    tagsOf: async (repo, signal) =>
      listed[repo] ??
      (await listTags(`docker://${repo}`, session.optionsFor(parseDockerRef(repo).registry), signal)).tags,
  }
}
