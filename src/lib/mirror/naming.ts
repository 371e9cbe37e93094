/**
 * Where a mirrored repository goes: the naming rules of the mirror spec.
 *
 *   keep-path   docker.io/library/alpine → <target>/<project>/library/alpine   (registry dropped)
 *   flatten     docker.io/library/alpine → <target>/<project>/alpine           (last component)
 *   template    "{project}/{registry}/{path}" → <target>/mirror/docker.io/library/alpine
 *
 * An image's explicit `target` is a repository path relative to the target registry (no project is
 * added). The result is checked as a repository name; an illegal one is an error naming the source.
 */
import { AirlockError } from '../errors.js'
import { parseReference } from '../reference.js'
import type { MirrorDefaults, Naming, SourceSpec } from './types.js'

/** The parts of a source reference naming needs (an ImageRef fits). */
export interface RepositoryName {
  registry: string
  repository: string
}

export const PLACEHOLDERS = ['project', 'registry', 'path', 'name'] as const
const PLACEHOLDER_RE = /\{([^{}]*)\}/g
const NAMING_HINT =
  'naming is keep-path, flatten or "template:<text>" with {project} {registry} {path} {name}, ' +
  'e.g. "template:{project}/{registry}/{path}"'

/** `keep-path` | `flatten` | `template:...` as written in a spec (or on a command line). */
export function parseNaming(text: string): Naming {
  if (text === 'keep-path' || text === 'flatten') return { kind: text }
  if (text.startsWith('template:')) {
    const template = text.slice('template:'.length)
    const unknown = [...template.matchAll(PLACEHOLDER_RE)]
      .map((m) => m[1])
      .filter((p) => !(PLACEHOLDERS as readonly string[]).includes(p))
    const stray = template.replace(PLACEHOLDER_RE, '').match(/[{}]/)
    if (!template || unknown.length || stray) {
      const why = !template
        ? 'the template is empty'
        : unknown.length
          ? `unknown placeholder {${unknown[0]}}`
          : `unbalanced "${stray?.[0]}"`
      throw new AirlockError('INVALID_INPUT', `naming "${text}": ${why}`, { hint: NAMING_HINT })
    }
    return { kind: 'template', template }
  }
  throw new AirlockError('INVALID_INPUT', `naming "${text}" is not a naming rule`, { hint: NAMING_HINT })
}

export function formatNaming(naming: Naming): string {
  return naming.kind === 'template' ? `template:${naming.template}` : naming.kind
}

/** True when the rule needs a project (a template with {project}). */
export function namingUsesProject(naming: Naming): boolean {
  return naming.kind === 'template' && naming.template.includes('{project}')
}

/** The repository path under the target registry, before validation. */
function targetPath(
  source: RepositoryName,
  naming: Naming,
  project: string | undefined,
  explicit: string | undefined,
): string {
  if (explicit !== undefined) return explicit
  const prefix = project ? `${project}/` : ''
  switch (naming.kind) {
    case 'keep-path':
      return prefix + source.repository
    case 'flatten':
      return prefix + (source.repository.split('/').pop() as string)
    case 'template': {
      if (project === undefined && namingUsesProject(naming)) {
        throw new AirlockError(
          'INVALID_INPUT',
          `naming of ${source.registry}/${source.repository}: {project} is used but no project is set`,
          {
            hint: 'set defaults.project, or drop {project} from the template',
          },
        )
      }
      const values: Record<string, string> = {
        project: project ?? '',
        // A port's ':' (and IPv6 brackets) cannot appear in a repository path.
        registry: source.registry.replace(/[[\]]/g, '').replace(/:/g, '-'),
        path: source.repository,
        name: source.repository.split('/').pop() as string,
      }
      return naming.template.replace(PLACEHOLDER_RE, (_, p: string) => values[p])
    }
  }
}

/**
 * `host/repository` that `source` is mirrored to. `image` gives the explicit target or naming
 * override, `defaults` the target registry, project and default naming. Throws INVALID_INPUT naming
 * the source when the result is not a valid repository.
 */
export function targetRepository(
  source: RepositoryName,
  image: Pick<SourceSpec, 'target' | 'naming'>,
  defaults: Pick<MirrorDefaults, 'target' | 'project' | 'naming'>,
): string {
  const path = targetPath(source, image.naming ?? defaults.naming, defaults.project, image.target)
  const host = defaults.target
  const full = `${host}/${path}`
  const from = `${source.registry}/${source.repository}`
  let problem: string | undefined
  try {
    const ref = parseReference(full)
    if (
      ref.registry !== host ||
      ref.repository !== path ||
      ref.tag !== undefined ||
      ref.digest !== undefined
    ) {
      problem = `"${path}" is not a repository path under ${host}`
    }
  } catch (err) {
    problem = (err as Error).message.replace(/^invalid reference "[^"]*": /, '')
  }
  if (problem !== undefined) {
    throw new AirlockError('INVALID_INPUT', `cannot mirror ${from} to ${full}: ${problem}`, {
      hint:
        image.target !== undefined
          ? 'target is a repository path relative to the target registry: lowercase components separated by "/", no tag'
          : `repository paths are lowercase letters and digits separated by ".", "_", "__", "-" or "/"; set target: for this image or change the naming (${NAMING_HINT})`,
    })
  }
  return full
}
