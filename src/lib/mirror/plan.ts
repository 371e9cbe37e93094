/**
 * The plan of a mirror run: which source tag goes to which target tag.
 *
 * For every image of the spec (in this shard) the source's tags are listed through `listTags` (once
 * per source repository), selected (select-tags.ts), named (naming.ts) and marked immutable. A source
 * whose tags cannot be listed is an error of that source only; the others are planned.
 *
 * Sharding is by target repository, decided before any listing: a shard lists only its own sources,
 * all tags of a repository (which share layers, mounts and referrers) run in the same shard, and two
 * sources that would write the same target tag are always in the same shard, so that conflict is
 * found wherever it happens. Such a conflict is an error naming both sources, and neither is planned.
 * The same source tag planned twice to the same target (two overlapping entries) is planned once,
 * with the settings of the first entry.
 *
 * The spec is taken as parseMirrorSpec resolves it: an image's platforms (undefined = all platforms)
 * already include the defaults; naming, referrers and immutable fall back to the defaults when unset.
 */
import { runPool } from '../copy/pool.js'
import { type AirlockError, isAirlockError } from '../errors.js'
import { parseReference } from '../reference.js'
import { type RepositoryName, targetRepository } from './naming.js'
import { compareCodePoints, hasFilter, selectTags } from './select-tags.js'
import { inShard, type Shard } from './shard.js'
import type { MirrorSpec, PlannedImage, SourceSpec } from './types.js'

/** Tags of a repository (`docker.io/library/alpine`), all pages. */
export type ListTags = (repository: string) => Promise<string[]>
/** Creation date of `repository:tag`, for `latest: {by: created}`. */
export type CreatedAt = (repository: string, tag: string) => Promise<Date | undefined>

export interface PlanOptions {
  shard?: Shard
  created?: CreatedAt
  /** Repositories listed at once (default 4; the caller's client still applies per-registry limits). */
  listConcurrency?: number
  /**
   * Do not list sources whose selection is exact tags only: plan those tags as given (a missing one
   * then fails when copied). Saves tag-list requests (library/python has thousands of tags, paged).
   */
  trustExactTags?: boolean
}

export interface PlanError {
  /** Source repository, e.g. docker.io/library/alpine. */
  source: string
  code: string
  message: string
}

export interface MissingTag {
  source: string
  tag: string
}

export interface MirrorPlan {
  /** Sorted by target, then source. */
  images: PlannedImage[]
  errors: PlanError[]
  /** Exact tags of the spec that the source does not have. */
  missing: MissingTag[]
  /** Every tag listed per source repository (to find signature tags such as sha256-<hex>.sig). */
  sourceTags: Record<string, string[]>
}

interface Entry {
  specIndex: number
  image: SourceSpec
  ref: RepositoryName & { name: string }
  targetRepo: string
  listed: boolean
}

type Listing = { tags: string[] } | { error: AirlockError | Error }

export async function planImages(
  spec: MirrorSpec,
  listTags: ListTags,
  opts: PlanOptions = {},
): Promise<MirrorPlan> {
  const errors: PlanError[] = []
  const missing: MissingTag[] = []
  const entries = planEntries(spec, opts, errors)
  const listings = await listAll(
    entries.filter((e) => e.listed).map((e) => e.ref.name),
    listTags,
    opts.listConcurrency ?? 4,
  )
  const planned: PlannedImage[] = []
  const failedListing = new Set<string>()
  for (const e of entries) {
    // An exact-only entry that was not listed uses a listing of the same source when there is one.
    const listing = listings.get(e.ref.name) ?? { tags: e.image.selection.tags ?? [] }
    if ('error' in listing) {
      if (!failedListing.has(e.ref.name))
        errors.push(toPlanError(e.ref.name, listing.error, 'cannot list tags of'))
      failedListing.add(e.ref.name)
      continue
    }
    const created = opts.created
    try {
      const sel = await selectTags(
        listing.tags,
        e.image.selection,
        created && ((tag) => created(e.ref.name, tag)),
      )
      for (const tag of sel.missing) missing.push({ source: e.ref.name, tag })
      planned.push(...sel.tags.map((tag) => plannedImage(e, tag, spec)))
    } catch (err) {
      errors.push(toPlanError(e.ref.name, err, 'cannot select tags of'))
    }
  }
  const images = resolveConflicts(planned, errors)
  errors.sort((a, b) => compareCodePoints(a.source, b.source) || compareCodePoints(a.message, b.message))
  missing.sort((a, b) => compareCodePoints(a.source, b.source) || compareCodePoints(a.tag, b.tag))
  const sourceTags: Record<string, string[]> = {}
  for (const [repo, listing] of [...listings].sort(([a], [b]) => compareCodePoints(a, b))) {
    if ('tags' in listing) sourceTags[repo] = listing.tags
  }
  return { images, errors: dedupeErrors(errors), missing: dedupeMissing(missing), sourceTags }
}

function planEntries(spec: MirrorSpec, opts: PlanOptions, errors: PlanError[]): Entry[] {
  const entries: Entry[] = []
  spec.images.forEach((image, specIndex) => {
    try {
      const ref = parseReference(image.source)
      const targetRepo = targetRepository(ref, image, spec.defaults)
      if (opts.shard && !inShard(targetRepo, opts.shard.index, opts.shard.count)) return
      const listed = !(opts.trustExactTags && !hasFilter(image.selection))
      entries.push({ specIndex, image, ref, targetRepo, listed })
    } catch (err) {
      errors.push(toPlanError(image.source, err, 'cannot plan'))
    }
  })
  return entries
}

async function listAll(repos: string[], listTags: ListTags, limit: number): Promise<Map<string, Listing>> {
  const out = new Map<string, Listing>()
  // A failed listing is that source's error only: nothing thrown stops the others.
  await runPool([...new Set(repos)], limit, async (repo) => {
    try {
      out.set(repo, { tags: await listTags(repo) })
    } catch (error) {
      out.set(repo, { error: error as Error })
    }
  })
  return out
}

function plannedImage(e: Entry, tag: string, spec: MirrorSpec): PlannedImage {
  const immutable = (e.image.immutable ?? spec.defaults.immutable).some((p) => new RegExp(p).test(tag))
  const out: PlannedImage = {
    source: `docker://${e.ref.name}:${tag}`,
    target: `docker://${e.targetRepo}:${tag}`,
    specIndex: e.specIndex,
    tag,
    referrers: e.image.referrers ?? spec.defaults.referrers,
    immutable,
  }
  if (e.image.platforms !== undefined) out.platforms = e.image.platforms
  return out
}

const repoOf = (ref: string): string => ref.replace(/^docker:\/\//, '').replace(/:[^:/]+$/, '')

/** Drops repeated (source, target) pairs and every target that two sources would write. */
function resolveConflicts(planned: PlannedImage[], errors: PlanError[]): PlannedImage[] {
  const byTarget = new Map<string, PlannedImage[]>()
  for (const p of [...planned].sort((a, b) => a.specIndex - b.specIndex)) {
    const group = byTarget.get(p.target)
    if (group) group.push(p)
    else byTarget.set(p.target, [p])
  }
  const images: PlannedImage[] = []
  const conflicts = new Map<string, { sources: string[]; indexes: number[]; tags: string[]; repo: string }>()
  for (const group of byTarget.values()) {
    const sources = [...new Set(group.map((p) => repoOf(p.source)))]
    if (sources.length === 1) {
      images.push(group[0])
      continue
    }
    const key = `${repoOf(group[0].target)}\n${[...sources].sort().join('\n')}`
    const c = conflicts.get(key) ?? { sources, indexes: [], tags: [], repo: repoOf(group[0].target) }
    c.tags.push(group[0].tag)
    for (const p of group) if (!c.indexes.includes(p.specIndex)) c.indexes.push(p.specIndex)
    conflicts.set(key, c)
  }
  for (const c of conflicts.values()) {
    const tags = c.tags.sort(compareCodePoints)
    const shown = tags.slice(0, 5).join(', ') + (tags.length > 5 ? ` and ${tags.length - 5} more` : '')
    errors.push({
      source: c.sources[c.sources.length - 1],
      code: 'INVALID_INPUT',
      message:
        `${c.sources.join(' and ')} (images ${c.indexes.sort((a, b) => a - b).join(', ')} of the spec) ` +
        `would both be mirrored to ${c.repo} (tags ${shown}); neither is copied. ` +
        'Give one of them its own target: or naming (e.g. keep-path)',
    })
  }
  return images.sort((a, b) => compareCodePoints(a.target, b.target) || compareCodePoints(a.source, b.source))
}

function toPlanError(source: string, err: unknown, what: string): PlanError {
  const message = err instanceof Error ? err.message : String(err)
  return {
    source,
    code: isAirlockError(err) ? err.code : 'INTERNAL',
    message: `${what} ${source}: ${message}`,
  }
}

function dedupeErrors(errors: PlanError[]): PlanError[] {
  return errors.filter(
    (e, i) => i === 0 || e.source !== errors[i - 1].source || e.message !== errors[i - 1].message,
  )
}

function dedupeMissing(missing: MissingTag[]): MissingTag[] {
  return missing.filter(
    (m, i) => i === 0 || m.source !== missing[i - 1].source || m.tag !== missing[i - 1].tag,
  )
}
