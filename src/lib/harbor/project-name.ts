/**
 * Harbor project names and the `<harbor>/<project>/name:tag` namespace that HPC sites push into
 * (e.g. `erisxdl.partners.org/<group name in lowercase>/alpine:demo-copy`).
 */
import { AirlockError } from '../errors.js'
import { parseDockerRef } from '../reference.js'

/**
 * Harbor's rule for project names: 1–255 characters matching this pattern
 * (goharbor/harbor src/pkg/project/manager.go, `restrictedNameChars` and `projectNameMaxLen`).
 */
export const PROJECT_NAME_PATTERN = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/
export const PROJECT_NAME_MAX = 255

export interface ProjectName {
  name: string
  /** Set when the given name had capitals and was lowercased (say so to the user). */
  loweredFrom?: string
}

/** A group name as users write it ("MyGroup") turned into the Harbor project it maps to ("mygroup"). */
export function projectName(given: string): ProjectName {
  const name = given.toLowerCase()
  if (!name || name.length > PROJECT_NAME_MAX || !PROJECT_NAME_PATTERN.test(name)) {
    throw new AirlockError('INVALID_INPUT', `"${given}" is not a valid Harbor project name`, {
      hint: `Harbor project names are 1-${PROJECT_NAME_MAX} characters of lowercase letters and digits, separated by single ".", "_" or "-" (${PROJECT_NAME_PATTERN.source}); capitals are lowercased for you`,
    })
  }
  return name === given ? { name } : { name, loweredFrom: given }
}

/** `https://harbor.example.org/` → `harbor.example.org`; refuses paths and bad hosts. */
export function harborHost(given: string): string {
  const host = given
    .trim()
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
    .replace(/\/+$/, '')
  if (!host || host.includes('/') || !/^[A-Za-z0-9.-]+(?::\d+)?$|^\[[0-9a-fA-F:]+\](?::\d+)?$/.test(host)) {
    throw new AirlockError('INVALID_INPUT', `"${given}" is not a Harbor host`, {
      hint: 'give the registry host of Harbor, e.g. --harbor harbor.example.org (a port is allowed)',
    })
  }
  return host.toLowerCase()
}

/**
 * Where a local image goes in a Harbor project: the last path component of its repository and its
 * tag (or digest), under `<harbor>/<project>/`. `alpine:demo-copy` → `h/p/alpine:demo-copy`;
 * `docker.io/library/alpine:3.20` → `h/p/alpine:3.20`.
 */
export function harborDestination(localName: string, harbor: string, project: string): string {
  const ref = parseDockerRef(localName)
  const base = ref.repository.split('/').pop() as string
  const suffix = ref.tag ? `:${ref.tag}` : ref.digest ? `@${ref.digest}` : ':latest'
  return `${harborHost(harbor)}/${projectName(project).name}/${base}${suffix}`
}
