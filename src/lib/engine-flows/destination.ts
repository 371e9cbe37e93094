/**
 * Where `airlock push` sends a local image: an explicit destination, or the configured Harbor
 * project (`<harbor>/<project>/name:tag`), or the image's own name, as `podman push NAME` does.
 */
import { AirlockError } from '../errors.js'
import { harborDestination, projectName } from '../harbor/project-name.js'
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
  if (harbor.host && harbor.project) return { reference: inHarbor(localName), notices }
  return { reference: parseDockerRef(localName).toString(), notices }
}
