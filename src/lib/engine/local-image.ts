/**
 * Images in an engine's local storage, and how a user's text picks one: an image ID (full, or a
 * unique prefix, with or without `sha256:`), a name (`alpine` means `docker.io/library/alpine:latest`,
 * `localhost/x` stays under localhost, as podman and Docker normalize), or `name@digest` (matched
 * against the image's repo digests).
 *
 * Names come first for text that could be either (`cafe` is a name and a short ID), as Docker's
 * daemon does; explicit IDs (`sha256:…`, `@…`, 64 hex) are IDs only.
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

/** Picks the image `query` names from `images`; clear errors when none or several match. */
export function matchLocalImage(images: LocalImage[], query: LocalImageQuery, where: string): LocalImage {
  if (query.name) {
    const wanted = query.name.toString()
    const hit = query.name.digest
      ? images.find((i) => i.repoDigests.includes(wanted))
      : images.find((i) => i.names.includes(wanted))
    if (hit) return hit
  }
  if (query.idPrefix) {
    const prefix = query.idPrefix
    const hits = images.filter((i) => i.id.slice('sha256:'.length).startsWith(prefix))
    if (hits.length === 1) return hits[0]
    if (hits.length > 1) {
      const ids = hits.slice(0, 5).map((i) => i.id.slice(7, 19))
      throw new AirlockError(
        'INVALID_INPUT',
        `image ID ${query.raw} is ambiguous in ${where}: it starts ${hits.length} image IDs (${ids.join(', ')}${hits.length > 5 ? ', …' : ''})`,
        { hint: 'give more characters of the ID, or the image name' },
      )
    }
  }
  if (query.idOnly || (query.idPrefix && query.raw.length >= 12)) {
    throw new AirlockError('INVALID_INPUT', `no image with ID ${query.raw} in ${where}`, {
      hint: `list the images with \`${where.startsWith('podman') ? 'podman' : 'docker'} images\`; check the ID and the storage`,
    })
  }
  const full = query.name?.toString() ?? query.raw
  throw new AirlockError(
    'NOT_FOUND',
    `image ${query.raw} not found in ${where}${full !== query.raw ? ` (as ${full})` : ''}`,
    {
      hint: `names are matched in full (${full}); pull or load the image first, or give its ID`,
    },
  )
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
