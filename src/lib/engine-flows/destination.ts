/**
 * Where `airlock push` sends a local image: an explicit destination, or the configured Harbor
 * project (`<harbor>/<project>/name:tag`), or the image's own name, as `podman push NAME` does.
 * A local name that already names the configured Harbor (`<harbor>/<group>/name:tag`) is pushed as
 * it is: the configured project only places names that are not in that Harbor yet.
 */
import { AirlockError } from '../errors.js'
import { harborDestination, harborHost, projectName } from '../harbor/project-name.js'
import { parseDockerRef } from '../reference.js'
import type { Notice } from './options.js'

export interface PushTarget {
  reference: string
  notices: Notice[]
}

/** True when the user wrote no registry host (`alpine:1`, `group/app`), so docker.io was implied. */
export function hasExplicitHost(name: string): boolean {
  const first = name.split('/')[0]
  return name.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost')
}

export function pushTarget(
  localName: string | undefined,
  dest: string | undefined,
  harbor: { host?: string; project?: string } = {},
): PushTarget {
  const notices: Notice[] = []
  const inHarbor = (name: string): string => {
    if (!harbor.host || !harbor.project) {
      throw new AirlockError(
        'INVALID_INPUT',
        `${name} names no registry, and no Harbor project is configured`,
        {
          hint: 'give a full destination (harbor.example.org/group/name:tag), or --harbor HOST --project GROUP (or harbor: in the config file)',
        },
      )
    }
    const p = projectName(harbor.project)
    if (p.loweredFrom) {
      notices.push({
        code: 'PROJECT_LOWERCASED',
        message: `Harbor project names are lowercase: using "${p.name}" for "${p.loweredFrom}"`,
      })
    }
    return harborDestination(name, harbor.host, p.name)
  }
  if (dest) {
    const bare = dest.replace(/^docker:\/\//, '')
    if (!hasExplicitHost(bare) && harbor.host && harbor.project) return { reference: inHarbor(bare), notices }
    return { reference: parseDockerRef(bare).toString(), notices }
  }
  if (!localName) {
    throw new AirlockError('INVALID_INPUT', 'the image has no name to push it under', {
      hint: 'give a destination: airlock push IMAGE-ID harbor.example.org/group/name:tag',
    })
  }
  // A name already in the configured Harbor (`<harbor>/<group>/name:tag`) is a full destination in its
  // own right: pushed under that name, as podman push does, with no project mapping (nor notice).
  if (harbor.host && harbor.project && !inConfiguredHarbor(localName, harbor.host))
    return { reference: inHarbor(localName), notices }
  return { reference: parseDockerRef(localName).toString(), notices }
}

/** `harbor.example.org/group/app:1` with harbor.example.org the configured Harbor (host[:port]). */
function inConfiguredHarbor(name: string, harbor: string): boolean {
  if (!hasExplicitHost(name)) return false
  const ref = parseDockerRef(name)
  let host: string
  try {
    host = harborHost(harbor)
  } catch {
    return false
  }
  return ref.registry === host && ref.repository.includes('/')
}
