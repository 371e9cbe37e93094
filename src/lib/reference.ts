/**
 * Container image references, parsed and normalized the way Docker does it.
 *
 * Grammar: github.com/distribution/reference, regexp.go (and the grammar comment in reference.go):
 *
 *   reference        := name [ ":" tag ] [ "@" digest ]
 *   name             := [domain "/"] path-component ["/" path-component]*
 *   domain           := (domain-name | "[" ipv6 "]") [":" port]
 *   domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
 *   path-component   := [a-z0-9]+ (separator [a-z0-9]+)*     separator := [._] | "__" | "-"+
 *   tag              := [\w][\w.-]{0,127}
 *   digest           := algorithm ":" hex, checked as github.com/opencontainers/go-digest does
 *
 * Normalization follows normalize.go (ParseNormalizedNamed, splitDockerDomain, ParseDockerRef,
 * familiarizeName): the first path component is a registry only if it contains "." or ":", is
 * "localhost", or has uppercase letters; otherwise the registry is docker.io. "index.docker.io" is
 * rewritten to "docker.io", and single-component docker.io names get the "library/" prefix.
 * The 255-character limit applies to the repository path, as in reference.go's Parse.
 */
import { AirlockError } from './errors.js'

export interface ImageRef {
  registry: string
  repository: string
  tag?: string
  digest?: string
  /** registry/repository */
  readonly name: string
  /** canonical string: registry/repository[:tag][@digest] */
  toString(): string
  /** familiar form as docker prints it: 'alpine:3.19', 'user/app', 'localhost:5000/x:1' */
  familiar(): string
}

const DEFAULT_DOMAIN = 'docker.io'
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io'
const DOCKER_HUB_HOST = 'registry-1.docker.io'
const OFFICIAL_PREFIX = 'library/'
const DEFAULT_TAG = 'latest'
const MAX_PATH_LENGTH = 255

const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*'
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])'
const DOMAIN_AND_PORT = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[(?:[a-fA-F0-9:]+)\\])(?::[0-9]+)?`
const TAG = '[\\w][\\w.-]{0,127}'
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}'

const anchored = (pattern: string): RegExp => new RegExp(`^(?:${pattern})$`)
const PATH_COMPONENT_RE = anchored(PATH_COMPONENT)
const REMOTE_NAME_RE = anchored(`${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`)
const DOMAIN_RE = anchored(DOMAIN_AND_PORT)
const TAG_RE = anchored(TAG)
const DIGEST_RE = anchored(DIGEST)
const IDENTIFIER_RE = /^[a-f0-9]{64}$/

/** Algorithms go-digest knows, with the number of lowercase hex characters each one needs. */
const DIGEST_HEX_LENGTH = new Map([
  ['sha256', 64],
  ['sha384', 96],
  ['sha512', 128],
])

const HINT =
  'a valid reference looks like [registry[:port]/]repository[:tag][@sha256:<64 hex>], ' +
  'e.g. alpine:3.19, ghcr.io/org/app:1.2 or localhost:5000/app@sha256:<64 hex>'
const TAG_RULE = 'must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}'

const q = (s: string): string => JSON.stringify(s)

function invalid(subject: string, reason: string): AirlockError {
  return new AirlockError('INVALID_REFERENCE', `${subject}: ${reason}`, { hint: HINT })
}

class Reference implements ImageRef {
  registry: string
  repository: string
  tag?: string
  digest?: string

  constructor(registry: string, repository: string, tag?: string, digest?: string) {
    this.registry = registry
    this.repository = repository
    if (tag !== undefined) this.tag = tag
    if (digest !== undefined) this.digest = digest
  }

  get name(): string {
    return `${this.registry}/${this.repository}`
  }

  toString(): string {
    return this.name + suffix(this)
  }

  familiar(): string {
    if (this.registry !== DEFAULT_DOMAIN) return this.toString()
    const rest = this.repository.slice(OFFICIAL_PREFIX.length)
    const official = this.repository.startsWith(OFFICIAL_PREFIX) && !rest.includes('/')
    return (official ? rest : this.repository) + suffix(this)
  }
}

function suffix(ref: ImageRef): string {
  return (ref.tag === undefined ? '' : `:${ref.tag}`) + (ref.digest === undefined ? '' : `@${ref.digest}`)
}

/** normalize.go splitDockerDomain: picks the registry and adds "library/" where Docker does. */
function splitDockerDomain(input: string): { domain: string; remainder: string; prefixed: boolean } {
  const slash = input.indexOf('/')
  if (slash < 0) return { domain: DEFAULT_DOMAIN, remainder: OFFICIAL_PREFIX + input, prefixed: true }
  let domain = input.slice(0, slash)
  let remainder = input.slice(slash + 1)
  if (domain === LEGACY_DEFAULT_DOMAIN) {
    domain = DEFAULT_DOMAIN
  } else if (domain !== 'localhost' && !/[.:]/.test(domain) && domain.toLowerCase() === domain) {
    domain = DEFAULT_DOMAIN
    remainder = input
  }
  const prefixed = domain === DEFAULT_DOMAIN && !remainder.includes('/')
  return { domain, remainder: prefixed ? OFFICIAL_PREFIX + remainder : remainder, prefixed }
}

interface Parts {
  first: string
  path: string
  tag?: string
  digest?: string
}

/** Splits "first/path[:tag][@digest]" structurally; the grammar allows ':' and '@' nowhere else. */
function splitParts(full: string): Parts {
  const slash = full.indexOf('/')
  const rest = full.slice(slash + 1)
  const at = rest.indexOf('@')
  const beforeAt = at < 0 ? rest : rest.slice(0, at)
  const colon = beforeAt.indexOf(':')
  return {
    first: full.slice(0, slash),
    path: colon < 0 ? beforeAt : beforeAt.slice(0, colon),
    tag: colon < 0 ? undefined : beforeAt.slice(colon + 1),
    digest: at < 0 ? undefined : rest.slice(at + 1),
  }
}

/** The reason `full` does not match regexp.go's reference grammar, or undefined when it does. */
function grammarProblem(parts: Parts): string | undefined {
  const { first, path, tag, digest } = parts
  if (!DOMAIN_RE.test(first) && !PATH_COMPONENT_RE.test(first)) {
    return `registry ${q(first)} is not a valid host[:port]`
  }
  if (!REMOTE_NAME_RE.test(path)) {
    const bad = path.split('/').find((c) => !PATH_COMPONENT_RE.test(c)) ?? path
    return (
      `repository ${q(path)} has an invalid path component ${q(bad)} ` +
      '(lowercase letters and digits, separated by ".", "_", "__" or "-")'
    )
  }
  if (tag !== undefined && !TAG_RE.test(tag)) return `tag ${q(tag)} ${TAG_RULE}`
  if (digest !== undefined && !DIGEST_RE.test(digest)) return digestProblem(digest)
  return undefined
}

/** Reason a digest is unusable (regexp.go digestPat, then go-digest's Validate), or undefined. */
function digestProblem(digest: string): string | undefined {
  const colon = digest.indexOf(':')
  const algorithm = colon < 0 ? '' : digest.slice(0, colon)
  const hex = colon < 0 ? '' : digest.slice(colon + 1)
  const want = DIGEST_HEX_LENGTH.get(algorithm)
  const lengthProblem = `digest ${q(digest)} has ${hex.length} hex characters, ${algorithm} needs ${want}`
  if (!DIGEST_RE.test(digest)) {
    if (want !== undefined && /^[0-9a-fA-F]*$/.test(hex)) return lengthProblem
    return `digest ${q(digest)} must look like <algorithm>:<hex>, e.g. sha256:<64 hex>`
  }
  if (want === undefined) {
    return `digest ${q(digest)} uses unsupported algorithm ${q(algorithm)} (use sha256, sha384 or sha512)`
  }
  if (hex.length !== want) return lengthProblem
  if (!/^[a-f0-9]+$/.test(hex)) return `digest ${q(digest)} must use lowercase hex`
  return undefined
}

/** ParseNormalizedNamed: familiar or canonical reference to a normalized one; adds no tag. */
export function parseReference(input: string): ImageRef {
  const subject = `invalid reference ${q(input)}`
  if (input === '') throw invalid(subject, 'reference is empty')
  if (IDENTIFIER_RE.test(input)) {
    throw invalid(subject, 'cannot specify 64-byte hexadecimal strings as a repository name (an image ID?)')
  }
  const { domain, remainder, prefixed } = splitDockerDomain(input)
  const colon = remainder.indexOf(':')
  const remote = colon < 0 ? remainder : remainder.slice(0, colon)
  if (remote.toLowerCase() !== remote) {
    const typed = prefixed ? remote.slice(OFFICIAL_PREFIX.length) : remote
    throw invalid(subject, `repository name must be lowercase (${q(typed)})`)
  }
  const full = `${domain}/${remainder}`
  const parts = splitParts(full)
  const problem = grammarProblem(parts)
  if (problem !== undefined) {
    const lower = full.toLowerCase()
    if (lower !== full && grammarProblem(splitParts(lower)) === undefined) {
      throw invalid(subject, `repository name must be lowercase (${q(`${parts.first}/${parts.path}`)})`)
    }
    throw invalid(subject, problem)
  }
  if (!DOMAIN_RE.test(parts.first)) {
    // Go accepts this as a registry-less name (e.g. "foo_bar.com/app"); nothing can pull it.
    throw invalid(subject, `registry ${q(parts.first)} is not a valid host[:port]`)
  }
  if (parts.path.length > MAX_PATH_LENGTH) {
    const n = parts.path.length
    throw invalid(subject, `repository name is ${n} characters long, the limit is ${MAX_PATH_LENGTH}`)
  }
  const bad = parts.digest === undefined ? undefined : digestProblem(parts.digest)
  if (bad !== undefined) throw invalid(subject, bad)
  return new Reference(parts.first, parts.path, parts.tag, parts.digest)
}

/** ParseDockerRef: like parseReference, then tag-only refs get 'latest' and tag+digest keeps the digest. */
export function parseDockerRef(input: string): ImageRef {
  const ref = parseReference(input)
  if (ref.digest !== undefined) return new Reference(ref.registry, ref.repository, undefined, ref.digest)
  return new Reference(ref.registry, ref.repository, ref.tag ?? DEFAULT_TAG)
}

/** A copy of `ref` with `tag` (any digest is kept, as Go's WithTag does). */
export function withTag(ref: ImageRef, tag: string): ImageRef {
  if (!isValidTag(tag)) throw invalid(`cannot tag ${ref.name} with ${q(tag)}`, `tag ${q(tag)} ${TAG_RULE}`)
  return new Reference(ref.registry, ref.repository, tag, ref.digest)
}

/** A copy of `ref` with `digest` (any tag is kept, as Go's WithDigest does). */
export function withDigest(ref: ImageRef, digest: string): ImageRef {
  const problem = digestProblem(digest)
  if (problem !== undefined) throw invalid(`cannot pin ${ref.name} to ${q(digest)}`, problem)
  return new Reference(ref.registry, ref.repository, ref.tag, digest)
}

export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag)
}

/** True for digests go-digest accepts: sha256/sha384/sha512 with the exact count of lowercase hex. */
export function isValidDigest(digest: string): boolean {
  return digestProblem(digest) === undefined
}

/** Host to contact: docker.io -> 'registry-1.docker.io'; otherwise the registry unchanged. */
export function registryHost(registry: string): string {
  return registry === DEFAULT_DOMAIN ? DOCKER_HUB_HOST : registry
}
