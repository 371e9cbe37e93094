/**
 * The mirror spec: a YAML file listing source repositories, the tags to take from each, and where they
 * go. `loadMirrorSpec` reads and checks it; every problem is an INVALID_INPUT AirlockError (exit 2)
 * naming the file, line and column (docs/mirror-spec.md is the reference).
 *
 * The result is resolved: defaults are applied to every image (platforms, naming, referrers,
 * immutable), sources are normalized as Docker does (`alpine` → `docker.io/library/alpine`), and
 * every image's target repository is known to be valid.
 */
import { z } from 'zod'
import { loadYamlFile, parseYamlText } from '../config/yaml-file.js'
import { projectName } from '../harbor/project-name.js'
import { type ImageRef, parseReference } from '../reference.js'
import { formatNaming, namingUsesProject, targetRepository } from './naming.js'
import { type RawImage, type RawSpec, RawSpecSchema } from './spec-schema.js'
import type { MirrorDefaults, MirrorSpec, RegistrySettings, SourceSpec, TagSelection } from './types.js'

export const DEFAULT_CONCURRENCY = 4
export const DEFAULT_RETRIES = 2

const WHAT = 'mirror spec'

/** Where an installed user finds the format (the docs/ folder is in the source, not the package). */
export const SPEC_FORMAT_HINT =
  'the mirror spec format is described in docs/mirror-spec.md in the airlock source, and in short by `airlock mirror --help`'

type Issue = (message: string, path: PropertyKey[]) => void

export async function loadMirrorSpec(file: string): Promise<MirrorSpec> {
  return { ...(await loadYamlFile(file, specSchema(), WHAT, SPEC_FORMAT_HINT)), file }
}

export function parseMirrorSpec(text: string, file: string): MirrorSpec {
  return { ...parseYamlText(text, file, specSchema(), WHAT, SPEC_FORMAT_HINT), file }
}

function specSchema(): z.ZodType<Omit<MirrorSpec, 'file'>> {
  return RawSpecSchema.transform((raw, ctx) => {
    const issue: Issue = (message, path) => {
      ctx.issues.push({ code: 'custom', message, input: raw, path })
    }
    const spec = resolve(raw, issue)
    return ctx.issues.length ? z.NEVER : spec
  }) as unknown as z.ZodType<Omit<MirrorSpec, 'file'>>
}

function resolve(raw: RawSpec, issue: Issue): Omit<MirrorSpec, 'file'> {
  const defaults = resolveDefaults(raw.defaults, issue)
  const registries = resolveRegistries(raw.registries ?? {}, issue)
  // With a bad target host every image's target would be wrong too: say it once.
  const targetOk = hostProblem(defaults.target) === undefined
  const images = raw.images.map((img, i) => resolveImage(img, i, defaults, targetOk, issue))
  return { defaults, registries, images: images.filter((x): x is SourceSpec => x !== undefined) }
}

/** Docker's rule: a registry host has a "." or ":" or is localhost (else `x/y` means docker.io/x/y). */
function hostProblem(host: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(host) || host.includes('/')) {
    return 'expected a registry host[:port], not a URL or path (e.g. harbor.example.org)'
  }
  let ref: ImageRef | undefined
  try {
    ref = parseReference(`${host}/x`)
  } catch {}
  if (!ref || ref.registry !== host) {
    return /^[a-z0-9-]+$/.test(host)
      ? `"${host}" would be read as a Docker Hub namespace; a registry host needs a "." or a port (e.g. ${host}:443) or is localhost`
      : `"${host}" is not a registry host[:port]`
  }
  return undefined
}

function resolveDefaults(d: RawSpec['defaults'], issue: Issue): MirrorDefaults {
  const target = d.target.trim().toLowerCase()
  const bad = hostProblem(target)
  if (bad) issue(bad, ['defaults', 'target'])
  let project: string | undefined
  if (d.project !== undefined) {
    try {
      project = projectName(d.project).name
    } catch (err) {
      issue(`${(err as Error).message}; ${(err as { hint?: string }).hint}`, ['defaults', 'project'])
    }
  }
  const naming = d.naming ?? { kind: 'flatten' }
  if (d.project === undefined && namingUsesProject(naming)) {
    issue(`"${formatNaming(naming)}" uses {project}: set defaults.project`, ['defaults', 'naming'])
  }
  if (d.harbor && d.project === undefined) {
    issue('harbor needs defaults.project (the Harbor project images go to)', ['defaults', 'harbor'])
  }
  const out: MirrorDefaults = {
    target,
    concurrency: d.concurrency ?? DEFAULT_CONCURRENCY,
    naming,
    referrers: d.referrers ?? false,
    immutable: d.immutable ?? [],
    retries: d.retries ?? DEFAULT_RETRIES,
  }
  if (project !== undefined) out.project = project
  if (d.harbor) {
    const { url, ...rest } = d.harbor
    out.harbor = { url: (url ?? `https://${target}`).replace(/\/+$/, ''), ...stripUndefined(rest) }
  }
  if (d.platforms !== undefined && d.platforms !== 'all') out.platforms = d.platforms
  if (d.tlsVerify !== undefined) out.tlsVerify = d.tlsVerify
  return out
}

function resolveRegistries(
  raw: Record<string, RegistrySettings>,
  issue: Issue,
): Record<string, RegistrySettings> {
  const out: Record<string, RegistrySettings> = {}
  for (const [key, settings] of Object.entries(raw)) {
    let host = key.trim().toLowerCase()
    if (host === 'index.docker.io' || host === 'registry-1.docker.io') host = 'docker.io'
    const bad = hostProblem(host)
    if (bad) issue(bad, ['registries', key])
    else if (out[host]) issue(`${host} is listed twice (as "${key}" here)`, ['registries', key])
    else out[host] = stripUndefined(settings)
  }
  return out
}

const SELECT_HINT =
  'say which tags to take: tags: ["1.2"], all: true, include: [regex], semver: ">=1.2 <2" or latest: 3 ' +
  '(or write the tag in the source, e.g. alpine:3.20)'

function resolveImage(
  img: RawImage,
  i: number,
  defaults: MirrorDefaults,
  targetOk: boolean,
  issue: Issue,
): SourceSpec | undefined {
  const at = (key: string) => ['images', i, key]
  let ref: ImageRef
  try {
    ref = parseReference(img.source.trim())
  } catch (err) {
    issue((err as Error).message, at('source'))
    return undefined
  }
  if (ref.digest !== undefined) {
    issue(
      `${img.source}: a digest cannot be mirrored to a tag; name the tag (source: ${ref.name}:<tag>) or copy it with "airlock copy"`,
      at('source'),
    )
    return undefined
  }
  const selection: TagSelection = stripUndefined({
    tags: img.tags,
    all: img.all,
    include: img.include,
    exclude: img.exclude,
    semver: img.semver,
    latest: img.latest && { count: img.latest.count, by: img.latest.by ?? 'semver' },
  })
  const filtered = Boolean(selection.all || selection.include || selection.semver || selection.latest)
  if (ref.tag !== undefined) {
    if (selection.tags || filtered) {
      issue(`${img.source} names a tag and also selects tags; keep one of the two`, at('source'))
    }
    selection.tags = [ref.tag]
  } else if (!selection.tags && !filtered) {
    issue(`${img.source} selects no tags; ${SELECT_HINT}`, at('source'))
    return undefined
  }
  if (selection.exclude && !filtered) {
    issue('exclude narrows all/include/semver/latest; add all: true to take every other tag', at('exclude'))
  }
  const spec: SourceSpec = stripUndefined({
    source: ref.name,
    selection,
    target: img.target?.trim(),
    naming: img.naming ?? defaults.naming,
    referrers: img.referrers ?? defaults.referrers,
    immutable: img.immutable ?? defaults.immutable,
  })
  const platforms = img.platforms ?? defaults.platforms
  if (platforms !== undefined && platforms !== 'all') spec.platforms = platforms
  if (targetOk)
    checkTarget(ref, spec, defaults, img.target !== undefined ? at('target') : at('source'), issue)
  return spec
}

function checkTarget(
  ref: ImageRef,
  spec: SourceSpec,
  defaults: MirrorDefaults,
  path: PropertyKey[],
  issue: Issue,
) {
  if (spec.target !== undefined && spec.target.split('/')[0] === defaults.target) {
    issue(
      `target is relative to the target registry: write "${spec.target.slice(defaults.target.length + 1)}"`,
      path,
    )
    return
  }
  if (spec.naming && namingUsesProject(spec.naming) && defaults.project === undefined) {
    issue(`"${formatNaming(spec.naming)}" uses {project}: set defaults.project`, [
      'images',
      path[1],
      'naming',
    ])
    return
  }
  try {
    targetRepository(ref, spec, defaults)
  } catch (err) {
    issue(`${(err as Error).message}; ${(err as { hint?: string }).hint}`, path)
  }
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T
}
