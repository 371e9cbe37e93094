/**
 * Choosing the tags of one source repository (a TagSelection) from the tags it has.
 *
 * The result is the union of two parts:
 *   - exact `tags`, taken when the repository has them (the others are returned as `missing`);
 *   - the filtered part, when `all`, `include`, `semver` or `latest` is given: every available tag,
 *     kept if it matches some `include` regex (when given), matches no `exclude` regex, satisfies the
 *     `semver` range (when given), and then only the newest `latest.count` of those.
 *     `exclude` narrows only this part; an exact tag is taken even if an exclude pattern matches it.
 *     Digest tags (cosign's `sha256-<hex>.sig`, see DIGEST_TAG) are never in this part.
 *
 * Regexes are JavaScript RegExps matched as written: `rc` matches anywhere, `^v\d+$` is anchored.
 * A tag is a version when semver parses it loosely (`1.2.3`, `v1.2.3`, `1.2.3-rc.1`, `1.2.3-alpine`);
 * `3.20` and `latest` are not versions and drop out of `semver` and of `latest` by semver. Ranges do
 * not match prereleases (`1.2.3-rc.1`, `1.2.3-alpine`) unless the range names one of the same x.y.z.
 * `latest` by semver ranks tags by version, highest first, and ties (`1.2.3` / `v1.2.3`) by tag in
 * code-point order; `latest` by created ranks by the image creation date, newest first, tags without a
 * date last. `latest` counts tags, not versions. The returned tags are in code-point order.
 */
import semver from 'semver'
import { AirlockError } from '../errors.js'
import type { TagSelection } from './types.js'

export interface SelectedTags {
  /** Selected tags present in the repository, unique, in code-point order. */
  tags: string[]
  /** Exact `tags` the repository does not have, in code-point order. */
  missing: string[]
}

/** Creation date of the image a tag points at (config `created`), undefined when unknown. */
export type CreatedLookup = (tag: string) => Promise<Date | undefined>

export function compareCodePoints(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** The version a tag spells, or null when it is not one (see the module comment). */
export function tagVersion(tag: string): semver.SemVer | null {
  return semver.parse(tag, { loose: true })
}

/** True when the selection has a filtered part (all, include, semver or latest). */
export function hasFilter(sel: TagSelection): boolean {
  return Boolean(sel.all || sel.include?.length || sel.semver !== undefined || sel.latest)
}

/**
 * Tags that name an artifact of another manifest rather than an image: cosign's
 * `sha256-<hex>.sig|.att|.sbom` and the referrers tag schema's `sha256-<hex>`. Filters never select
 * them (they travel with their image when referrers are copied); exact tags may name them.
 */
export const DIGEST_TAG = /^(?:sha256-[0-9a-f]{64}|sha512-[0-9a-f]{128})(?:\.[A-Za-z0-9_-]+)?$/

export async function selectTags(
  available: readonly string[],
  sel: TagSelection,
  created?: CreatedLookup,
): Promise<SelectedTags> {
  const have = new Set(available)
  const exact = [...new Set(sel.tags ?? [])]
  const chosen = new Set(exact.filter((t) => have.has(t)))
  const missing = exact.filter((t) => !have.has(t)).sort(compareCodePoints)
  if (hasFilter(sel)) {
    for (const tag of await filtered([...have], sel, created)) chosen.add(tag)
  }
  return { tags: [...chosen].sort(compareCodePoints), missing }
}

async function filtered(tags: string[], sel: TagSelection, created?: CreatedLookup): Promise<string[]> {
  const include = (sel.include ?? []).map((p) => new RegExp(p))
  const exclude = (sel.exclude ?? []).map((p) => new RegExp(p))
  let kept = tags.filter(
    (t) =>
      !DIGEST_TAG.test(t) &&
      (include.length === 0 || include.some((re) => re.test(t))) &&
      !exclude.some((re) => re.test(t)),
  )
  if (sel.semver !== undefined) {
    const range = sel.semver
    kept = kept.filter((t) => {
      const v = tagVersion(t)
      return v !== null && semver.satisfies(v.version, range, { includePrerelease: false })
    })
  }
  if (!sel.latest) return kept
  const { count, by } = sel.latest
  return by === 'created' ? newestByCreated(kept, count, created) : newestBySemver(kept, count)
}

function newestBySemver(tags: string[], count: number): string[] {
  return tags
    .map((tag) => ({ tag, version: tagVersion(tag) }))
    .filter((x): x is { tag: string; version: semver.SemVer } => x.version !== null)
    .sort((a, b) => semver.rcompare(a.version, b.version) || compareCodePoints(a.tag, b.tag))
    .slice(0, count)
    .map((x) => x.tag)
}

async function newestByCreated(tags: string[], count: number, created?: CreatedLookup): Promise<string[]> {
  if (!created) {
    throw new AirlockError('UNSUPPORTED', 'latest by created needs the creation dates of images', {
      hint: 'use latest by semver, or give the planner a created() lookup',
    })
  }
  const dated = await Promise.all(
    tags.map(async (tag) => {
      const date = await created(tag)
      const time = date?.getTime()
      return { tag, time: time === undefined || Number.isNaN(time) ? undefined : time }
    }),
  )
  return dated
    .sort((a, b) => {
      if (a.time !== b.time) {
        if (a.time === undefined) return 1
        if (b.time === undefined) return -1
        return b.time - a.time
      }
      return compareCodePoints(a.tag, b.tag)
    })
    .slice(0, count)
    .map((x) => x.tag)
}
