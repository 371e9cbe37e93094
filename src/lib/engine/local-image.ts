/**
 * Images in an engine's local storage, and how a user's text picks one: an image ID (full, or a
 * unique prefix, with or without `sha256:`), a name, or `name@digest` (matched against the image's
 * repo digests).
 *
 * Names are completed as the engine itself does for local images:
 * - podman (containers/common libimage/runtime.go LookupImage, containers/image
 *   pkg/shortnames ResolveLocally): a name with a registry part (`quay.io/x`, `localhost/x`) is taken
 *   as it is; a short name (`app:1`, `group/app`) is tried as its registries.conf alias, then
 *   `localhost/NAME`, then under each `unqualified-search-registries` entry, then normalized to
 *   docker.io (`docker.io/library/app:1`). Then the text as an image ID prefix; then, for a digest,
 *   any image with that manifest digest, and for a short name, any image with a name ending in
 *   `/NAME:TAG` (podman picks the first in its store's order; airlock refuses the choice when
 *   there are several).
 * - Docker: a name means its docker.io normalization (`app` is `docker.io/library/app:latest`),
 *   then an image ID prefix.
 * A missing tag is `latest`. Names come first for text that could be either (`cafe` is a name and a
 * short ID), as both engines do; explicit IDs (`sha256:…`, `@…`, 64 hex) are IDs only.
 */
import { AirlockError } from '../errors.js'
import { type ImageRef, parseDockerRef, parseReference } from '../reference.js'

export type EngineName = 'podman' | 'docker'

export interface LocalImage {
  /** `sha256:<64 hex>`: the config digest (podman, classic Docker storage). */
  id: string
  /** Names pointing at the image, normalized (`docker.io/library/alpine:latest`). */
  names: string[]
  /** `name@digest` entries the engine keeps for the image, normalized. */
  repoDigests: string[]
  size?: number
  /** ISO 8601. */
  created?: string
}

export interface LocalImageQuery {
  /** The text as given. */
  raw: string
  /** Lowercase hex: the whole ID or a prefix of it. */
  idPrefix?: string
  /** True when the text can only be an ID (`sha256:…`, `@…`, or 64 hex characters). */
  idOnly: boolean
  /** The normalized name (tag defaults to latest), when the text is a valid reference. */
  name?: ImageRef
}

const FULL_ID = /^[a-f0-9]{64}$/
const ID_PREFIX = /^[a-f0-9]{1,64}$/

/** Reads a user's image text. Throws INVALID_REFERENCE when it is neither an ID nor a name. */
export function parseLocalImageQuery(text: string): LocalImageQuery {
  const raw = text.trim()
  if (!raw) throw new AirlockError('INVALID_REFERENCE', 'an image name or ID is required')
  let hex: string | undefined
  if (raw.startsWith('@')) hex = raw.slice(1)
  else if (raw.startsWith('sha256:')) hex = raw.slice('sha256:'.length)
  else if (FULL_ID.test(raw)) hex = raw
  if (hex !== undefined) {
    if (!ID_PREFIX.test(hex)) {
      throw new AirlockError('INVALID_REFERENCE', `${JSON.stringify(raw)} is not an image ID`, {
        hint: 'an image ID is sha256:<hex> or its first characters, lowercase hex, as `podman images` or `docker images` show it',
      })
    }
    return { raw, idPrefix: hex, idOnly: true }
  }
  const name = parseDockerRef(raw)
  return { raw, name, idOnly: false, ...(ID_PREFIX.test(raw) ? { idPrefix: raw } : {}) }
}

/** A listed name in the normalized form, or undefined for `<none>` entries. */
export function normalizeListedName(name: string): string | undefined {
  if (!name || name.includes('<none>')) return undefined
  try {
    return parseReference(name).toString()
  } catch {
    return name
  }
}

/** A listed image with sha256: ID and normalized, de-duplicated names and repo digests. */
export function normalizeLocalImage(img: LocalImage): LocalImage {
  const norm = (xs: string[]) => [
    ...new Set(xs.map(normalizeListedName).filter((x): x is string => x !== undefined)),
  ]
  return {
    ...img,
    id: img.id.startsWith('sha256:') ? img.id : `sha256:${img.id}`,
    names: norm(img.names),
    repoDigests: norm(img.repoDigests),
  }
}

/** An entry of an engine's image listing (`podman images --format json`, `GET /images/json`). */
export function listedImage(
  e: { Id: string; RepoDigests?: string[] | null; Size?: number; Created?: number },
  names: string[] | null | undefined,
): LocalImage {
  return {
    id: e.Id,
    names: names ?? [],
    repoDigests: e.RepoDigests ?? [],
    ...(typeof e.Size === 'number' ? { size: e.Size } : {}),
    // Unix seconds in both engines' listings.
    ...(typeof e.Created === 'number' ? { created: new Date(e.Created * 1000).toISOString() } : {}),
  }
}

/**
 * One entry per image: `podman images --format json` prints an image once per name (podman 4.3),
 * which would make every short ID of a twice-named image look ambiguous.
 */
export function mergeLocalImages(images: LocalImage[]): LocalImage[] {
  const byId = new Map<string, LocalImage>()
  for (const raw of images) {
    const img = normalizeLocalImage(raw)
    const seen = byId.get(img.id)
    if (!seen) byId.set(img.id, img)
    else {
      seen.names = [...new Set([...seen.names, ...img.names])]
      seen.repoDigests = [...new Set([...seen.repoDigests, ...img.repoDigests])]
    }
  }
  return [...byId.values()]
}

/** How an engine completes names without a registry part (see the top of this file). */
export interface LocalNameRules {
  engine: EngineName
  /** podman: registries.conf `[aliases]`, short name → `registry/repository`. */
  aliases?: ReadonlyMap<string, string>
  /** podman: registries.conf `unqualified-search-registries`, in order. */
  searchRegistries?: readonly string[]
}

/** An image found, and the name it was found under (undefined when found by ID or digest only). */
export interface LocalLookup {
  image: LocalImage
  name?: string
}

/**
 * True for names podman completes: no registry part, i.e. no `/`, or a first component without `.`
 * or `:` that is not `localhost` (containers/image pkg/shortnames parseUnnormalizedShortName).
 */
export function isShortName(text: string): boolean {
  const slash = text.indexOf('/')
  if (slash < 0) return true
  const first = text.slice(0, slash)
  return !/[.:]/.test(first) && first !== 'localhost'
}

/** A short name's repository as typed (`group/app`) and its `:tag` or `@digest` (a digest wins). */
function splitShortName(raw: string): { repo: string; suffix: string; tag?: string; digest?: string } {
  const at = raw.indexOf('@')
  const base = at < 0 ? raw : raw.slice(0, at)
  const digest = at < 0 ? undefined : raw.slice(at + 1)
  const colon = base.indexOf(':', base.lastIndexOf('/') + 1)
  const repo = colon < 0 ? base : base.slice(0, colon)
  const tag = colon < 0 ? undefined : base.slice(colon + 1)
  if (digest !== undefined) return { repo, suffix: `@${digest}`, digest }
  return { repo, suffix: tag === undefined ? '' : `:${tag}`, tag: tag ?? 'latest' }
}

/** The names `query` is looked up as, in the engine's order (tag defaults to latest). */
export function localNameCandidates(query: LocalImageQuery, rules: LocalNameRules): ImageRef[] {
  if (!query.name || query.idOnly) return []
  const out: ImageRef[] = []
  const add = (text: string) => {
    let ref: ImageRef
    try {
      ref = parseDockerRef(text)
    } catch {
      return // podman skips what does not parse (an alias or registry entry it would refuse)
    }
    if (!out.some((r) => r.toString() === ref.toString())) out.push(ref)
  }
  if (rules.engine === 'podman' && isShortName(query.raw)) {
    const { repo, suffix } = splitShortName(query.raw)
    const alias = rules.aliases?.get(repo)
    if (alias) add(alias + suffix)
    for (const reg of ['localhost', ...(rules.searchRegistries ?? [])]) add(`${reg}/${repo}${suffix}`)
  }
  add(query.name.toString())
  return out
}

/** `registry/repository` and tag of a normalized listed name, or undefined. */
function splitListedName(name: string): { name: string; tag?: string } | undefined {
  try {
    const r = parseReference(name)
    return { name: r.name, tag: r.tag }
  } catch {
    return undefined
  }
}

/** Picks the image `query` names from `images`; clear errors when none or several match. */
export function matchLocalImage(
  images: LocalImage[],
  query: LocalImageQuery,
  where: string,
  rules: LocalNameRules = { engine: 'podman' },
): LocalImage {
  return lookupLocalImageIn(images, query, where, rules).image
}

/** matchLocalImage, also saying which name matched. */
export function lookupLocalImageIn(
  images: LocalImage[],
  query: LocalImageQuery,
  where: string,
  rules: LocalNameRules = { engine: 'podman' },
): LocalLookup {
  const candidates = localNameCandidates(query, rules)
  for (const c of candidates) {
    const wanted = c.toString()
    const hit = c.digest
      ? images.find((i) => i.repoDigests.includes(wanted) || i.names.includes(wanted))
      : images.find((i) => i.names.includes(wanted))
    if (hit) return { image: hit, name: wanted }
  }
  if (query.idPrefix) {
    const prefix = query.idPrefix
    const hits = images.filter((i) => i.id.slice('sha256:'.length).startsWith(prefix))
    if (hits.length === 1) return { image: hits[0] }
    if (hits.length > 1) {
      const ids = hits.slice(0, 5).map((i) => i.id.slice(7, 19))
      throw new AirlockError(
        'INVALID_INPUT',
        `image ID ${query.raw} is ambiguous in ${where}: it starts ${hits.length} image IDs (${ids.join(', ')}${hits.length > 5 ? ', …' : ''})`,
        { hint: 'give more characters of the ID, or the image name' },
      )
    }
  }
  const tool = rules.engine === 'podman' ? 'podman' : 'docker'
  let suffixNote = ''
  if (rules.engine === 'podman' && query.name && !query.idOnly) {
    const short = isShortName(query.raw) ? splitShortName(query.raw) : undefined
    if (query.name.digest) {
      // libimage lookupImageInDigestsAndRepoTags: any image with that manifest digest.
      const at = `@${query.name.digest}`
      const hit = images.find((i) => i.repoDigests.some((d) => d.endsWith(at)))
      if (hit) return { image: hit }
    } else if (short) {
      // The same function's last resort: a name whose repository ends in `/REPO`, with the tag.
      suffixNote = `, then any name ending in /${short.repo}:${short.tag}`
      const ends = `/${short.repo}`
      const hits: LocalLookup[] = []
      for (const image of images) {
        const name = image.names.find((n) => {
          const p = splitListedName(n)
          return p !== undefined && p.tag === short.tag && p.name.endsWith(ends)
        })
        if (name) hits.push({ image, name })
      }
      if (hits.length === 1) return hits[0]
      if (hits.length > 1) {
        const names = hits.slice(0, 5).map((h) => h.name)
        throw new AirlockError(
          'INVALID_INPUT',
          `image ${query.raw} is ambiguous in ${where}: it matches ${names.join(', ')}${hits.length > 5 ? ', …' : ''}`,
          { hint: `give the full name, e.g. ${names[0]}, or the image ID` },
        )
      }
    }
  }
  if (query.idOnly || (query.idPrefix && query.raw.length >= 12)) {
    throw new AirlockError('INVALID_INPUT', `no image with ID ${query.raw} in ${where}`, {
      hint: `list the images with \`${tool} images\`; check the ID and the storage`,
    })
  }
  const tried = candidates.map((c) => c.toString())
  const as =
    tried.length === 1 && tried[0] === query.raw
      ? ''
      : tried.length
        ? ` (tried ${tried.join(', ')}${suffixNote})`
        : ''
  throw new AirlockError('NOT_FOUND', `image ${query.raw} not found in ${where}${as}`, {
    hint: `list the images with \`${tool} images\`; pull or load the image first, or give its full name or ID`,
  })
}

/** The normalized `name:tag` a destination reference writes, or an error for IDs and digests. */
export function destinationName(text: string, transport: string): ImageRef {
  const q = parseLocalImageQuery(text)
  if (q.idOnly || !q.name) {
    throw new AirlockError(
      'INVALID_INPUT',
      `${transport}:${text} names an image ID; a destination needs a name`,
      {
        hint: `use ${transport}:NAME[:TAG], e.g. ${transport}:localhost/app:1`,
      },
    )
  }
  if (q.name.digest) {
    throw new AirlockError(
      'INVALID_INPUT',
      `${transport}:${text} has a digest; engines store images under tags`,
      {
        hint: `use ${transport}:${q.name.name}:TAG`,
      },
    )
  }
  return q.name
}

/** The transport reference of a local image: `containers-storage:REF` or `docker-daemon:REF`. */
export function engineTransportRef(engine: EngineName, ref: string): string {
  return `${engine === 'podman' ? 'containers-storage' : 'docker-daemon'}:${ref.trim()}`
}
