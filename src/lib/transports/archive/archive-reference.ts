/**
 * `FILE[:REF]` as the archive transports take it (skopeo's docker-archive: and oci-archive:): the
 * path ends at the first colon; REF names an image in the archive, or `@N` picks the N-th (from 0).
 */
import { resolve } from 'node:path'
import { AirlockError } from '../../errors.js'

export interface ArchiveLocation {
  path: string
  /** The text after the first colon, undefined when there is none or it is empty. */
  rest?: string
  /** `@N` in REF. */
  index?: number
}

export function parseArchiveLocation(transport: string, within: string): ArchiveLocation {
  if (!within) {
    throw new AirlockError('INVALID_REFERENCE', `${transport}: needs a file, as in ${transport}:FILE[:REF]`)
  }
  const colon = within.indexOf(':')
  const file = colon < 0 ? within : within.slice(0, colon)
  const rest = colon < 0 ? undefined : within.slice(colon + 1) || undefined
  if (!file) throw new AirlockError('INVALID_REFERENCE', `${transport}:${within} has no file name`)
  const out: ArchiveLocation = { path: resolve(file) }
  if (rest === undefined) return out
  if (rest.startsWith('@')) {
    if (!/^@\d{1,9}$/.test(rest)) {
      throw new AirlockError('INVALID_REFERENCE', `${transport}:${within}: "${rest}" is not @N`, {
        hint: `@N picks the N-th image of the archive, counting from 0, e.g. ${transport}:${file}:@0`,
      })
    }
    out.index = Number(rest.slice(1))
    return out
  }
  out.rest = rest
  return out
}

/** "@0: a:1, @1: b:2" for error hints. */
function listChoices(names: Array<string | undefined>): string {
  return names.map((n, i) => `@${i}: ${n ?? '(no name)'}`).join(', ')
}

/**
 * The image of an archive REF picks: the `@N`-th, the one `byName` finds for a name, or the only
 * one. Errors list the archive's images by `labels` (one per image, undefined for none).
 */
export function selectArchiveImage<T>(
  images: T[],
  sel: { index?: number; name?: string },
  what: string,
  how: {
    /** The member listing the images, for "holds no images (index.json is empty)". */
    listFile: string
    labels: Array<string | undefined>
    byName: (name: string) => T | undefined
  },
): T {
  const inside = listChoices(how.labels)
  if (!images.length) {
    throw new AirlockError('INVALID_INPUT', `${what} holds no images (${how.listFile} is empty)`)
  }
  if (sel.index !== undefined) {
    const hit = images[sel.index]
    if (hit) return hit
    throw new AirlockError(
      'INVALID_INPUT',
      `${what}: there is no image @${sel.index}; the archive holds ${images.length}`,
      { hint: `images in the archive: ${inside}` },
    )
  }
  if (sel.name !== undefined) {
    const hit = how.byName(sel.name)
    if (hit) return hit
    throw new AirlockError('INVALID_INPUT', `${what}: no image named ${sel.name} in the archive`, {
      hint: `images in the archive: ${inside}`,
    })
  }
  if (images.length === 1) return images[0]
  throw new AirlockError('INVALID_INPUT', `${what} holds ${images.length} images; say which one`, {
    hint: `add :NAME or :@N to the reference; images in the archive: ${inside}`,
  })
}
