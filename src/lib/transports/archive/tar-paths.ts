/**
 * Paths inside an archive. airlock never extracts archives, but it refuses the ones that would write
 * outside their directory if someone did: entries with `..` or absolute names, and links whose
 * targets leave the archive. References read from manifest.json and index.json get the same checks.
 */
import { AirlockError } from '../../errors.js'

const HOSTILE_HINT =
  'the archive is corrupt or was made to escape its directory when extracted; airlock refuses to read it. Recreate it with docker save, podman save or skopeo copy'

/** `a//b/./c/` -> `a/b/c`; undefined when the path is absolute or has a `..` component. */
export function cleanName(raw: string): string | undefined {
  if (raw.startsWith('/')) return undefined
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.')
  if (parts.includes('..')) return undefined
  return parts.join('/')
}

/** An entry name as stored in the archive, normalized; refused when it could leave the archive. */
export function entryName(raw: string, what: string): string {
  const name = cleanName(raw)
  if (name === undefined) {
    throw new AirlockError(
      'INVALID_INPUT',
      `${what}: entry ${JSON.stringify(raw)} has ${raw.startsWith('/') ? 'an absolute path' : 'a ".." path component'}`,
      { hint: HOSTILE_HINT },
    )
  }
  return name
}

/**
 * Joins `target` onto `base` (an archive path, '' for the root) resolving `..`; undefined when the
 * result would leave the archive or `target` is absolute.
 */
export function joinInside(base: string, target: string): string | undefined {
  if (target.startsWith('/')) return undefined
  const out = base ? base.split('/') : []
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue
    if (part === '..') {
      if (!out.length) return undefined
      out.pop()
    } else out.push(part)
  }
  return out.join('/')
}

export function dirName(name: string): string {
  const i = name.lastIndexOf('/')
  return i < 0 ? '' : name.slice(0, i)
}

/** Where a link entry points, as an archive path; refused when the target leaves the archive. */
export function linkTarget(name: string, kind: 'symlink' | 'hardlink', target: string, what: string): string {
  // Symlink targets are relative to the link's directory; hard link targets to the archive root.
  const resolved = joinInside(kind === 'symlink' ? dirName(name) : '', target)
  if (resolved === undefined || resolved === '') {
    throw new AirlockError(
      'INVALID_INPUT',
      `${what}: ${kind} ${JSON.stringify(name)} points outside the archive (to ${JSON.stringify(target)})`,
      { hint: HOSTILE_HINT },
    )
  }
  return resolved
}

/** A path named by manifest.json (Config, Layers); refused when it is absolute or climbs out. */
export function referencedName(raw: unknown, field: string, what: string): string {
  const name = typeof raw === 'string' ? cleanName(raw) : undefined
  if (!name) {
    throw new AirlockError(
      'INVALID_INPUT',
      `${what}: ${field} names ${JSON.stringify(raw)}, which is not a path inside the archive`,
      { hint: HOSTILE_HINT },
    )
  }
  return name
}
