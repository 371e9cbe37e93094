/**
 * One tag of a mirror run: decide by digest (HEAD requests, which Docker Hub does not count as
 * pulls) whether it must be copied; copy it (requests are retried by src/lib/http/retry.ts, not
 * here); bring its cosign-style signature, attestation and SBOM tags in step with the source when asked, also when the image itself is
 * unchanged. Never throws: the outcome is an ImageReport.
 */
import type { BlobLedger } from '../copy/blob-ledger.js'
import { copyImage } from '../copy/copy-image.js'
import { AirlockError, isAirlockError, toAirlockError } from '../errors.js'
import { parsePlatform } from '../manifest.js'
import { parseDockerRef } from '../reference.js'
import type { RegistryClient } from '../transports/registry/client.js'
import type { RegistryOptions } from '../transports/registry/options.js'
import type { MirrorState } from './state.js'
import type { ImageReport, PlannedImage } from './types.js'

export interface ImageContext {
  optionsFor: (host: string) => RegistryOptions
  client: (registry: string, repository: string) => RegistryClient
  /** Tags of the source repository (from planning), to find signature tags. */
  sourceTags: (source: string) => string[]
  /** Tags of the target repositories, listed once per run (for signature tags). */
  targets: TargetRepositories
  state: MirrorState
  /** Attempts after the first of each request (the spec's `retries`). */
  retries: number
  /** What this run has sent where: each blob goes to a target repository once per run. */
  ledger?: BlobLedger
  jobs: number
  dryRun: boolean
  /**
   * A dry run found the target's Harbor project missing (it will be created by a real run): the
   * target is not asked (Harbor answers 401 for a project it does not have), the tag is planned.
   */
  targetMissing?: boolean
  signal: AbortSignal
}

const SIG_SUFFIXES = ['.sig', '.att', '.sbom']

/**
 * How long a recorded referrer tag is trusted without asking the source again. A re-signed image
 * keeps its signature tag (cosign appends a signature to the manifest under it), so only asking
 * tells; asking every run would cost a HEAD per referrer tag per run.
 */
export const REFERRER_RECHECK_MS = 7 * 24 * 3600 * 1000

/**
 * The target repositories of one run, shared by its images: their tags, listed once when an image
 * first needs them (a repository the target does not have yet has none), and the referrer tags
 * being written, so two tags of one digest do not copy its signatures twice at once.
 */
export class TargetRepositories {
  private readonly listed = new Map<string, Promise<Set<string>>>()
  private readonly writing = new Map<string, Promise<unknown>>()

  constructor(
    private readonly client: ImageContext['client'],
    private readonly signal: AbortSignal,
  ) {}

  /** Tags of `host/repository`; the Set grows as the run writes referrer tags. */
  tags(repository: string): Promise<Set<string>> {
    let listing = this.listed.get(repository)
    if (!listing) {
      const r = parseDockerRef(repository)
      listing = this.client(r.registry, r.repository)
        .listTags(r.repository, { signal: this.signal })
        .then(
          (tags) => new Set(tags),
          (err) => {
            if (isAirlockError(err) && err.code === 'NOT_FOUND') return new Set<string>()
            throw err
          },
        )
      this.listed.set(repository, listing)
    }
    return listing
  }

  /** Runs `write` once per target tag: a caller that comes while it runs waits, and gets undefined. */
  async once<T>(ref: string, write: () => Promise<T>): Promise<T | undefined> {
    const pending = this.writing.get(ref)
    if (pending) {
      await pending
      return undefined
    }
    const p = write()
    this.writing.set(ref, p)
    try {
      return await p
    } finally {
      this.writing.delete(ref)
    }
  }
}

function strip(ref: string): string {
  return ref.replace(/^docker:\/\//, '')
}

/** How a selected tag the source does not have is reported (planning and copying say the same). */
export function missingTagMessage(source: string, tag: string): string {
  const repo = parseDockerRef(strip(source)).name
  return `tag ${tag} is missing from ${repo}`
}

async function head(ctx: ImageContext, ref: string): Promise<string | undefined> {
  const r = parseDockerRef(strip(ref))
  const got = await ctx
    .client(r.registry, r.repository)
    .headManifest(r.repository, r.tag ?? 'latest', ctx.signal)
  return got?.digest
}

export async function mirrorImage(plan: PlannedImage, ctx: ImageContext): Promise<ImageReport> {
  const started = performance.now()
  const report: ImageReport = {
    source: plan.source,
    target: plan.target,
    action: 'failed',
    bytes: 0,
    seconds: 0,
    attempts: 0,
  }
  const done = (r: Partial<ImageReport>): ImageReport => ({
    ...report,
    ...r,
    seconds: (performance.now() - started) / 1000,
  })
  try {
    // Immutable tags already at the target: the source is not asked at all (its referrer tags are
    // in the listing of planning; the digest they name is the target's, or the recorded pair's).
    const targetDigest = ctx.targetMissing ? undefined : await head(ctx, plan.target)
    if (plan.immutable && targetDigest) {
      const pair = ctx.state.get(strip(plan.target))
      const signed =
        pair?.targetDigest === targetDigest
          ? pair.sourceDigest
          : plan.platforms?.length
            ? undefined
            : targetDigest
      const skip = { reason: 'immutable tag already at the target', targetDigest }
      return done(await withReferrers(plan, signed, ctx, skip))
    }
    const sourceDigest = await head(ctx, plan.source)
    // An exact tag planned without listing the source (or a tag deleted since the listing): reported
    // as the plan reports an exact tag the source lacks.
    if (!sourceDigest) throw new AirlockError('NOT_FOUND', missingTagMessage(plan.source, plan.tag))
    const known = ctx.state.get(strip(plan.target))
    const same = plan.platforms?.length
      ? known?.sourceDigest === sourceDigest && known.targetDigest === targetDigest
      : sourceDigest === targetDigest
    if (same && targetDigest) {
      const skip = { reason: 'same digest at the target', sourceDigest, targetDigest }
      return done(await withReferrers(plan, sourceDigest, ctx, skip))
    }
    if (ctx.dryRun) {
      return done({
        action: 'planned',
        reason: targetDigest
          ? `target has ${targetDigest}, source has ${sourceDigest}`
          : ctx.targetMissing
            ? 'not at the target: the project will be created'
            : 'not at the target',
        sourceDigest,
        targetDigest,
      })
    }
    // Retries happen below, once per request (src/lib/http/retry.ts): a failure here is final.
    const result = await copyImage(plan.source, plan.target, {
      platforms: plan.platforms?.map(parsePlatform),
      jobs: ctx.jobs,
      retries: ctx.retries,
      ledger: ctx.ledger,
      signal: ctx.signal,
      source: { registry: ctx.optionsFor(parseDockerRef(strip(plan.source)).registry) },
      destination: { registry: ctx.optionsFor(parseDockerRef(strip(plan.target)).registry) },
    })
    ctx.state.set(strip(plan.target), {
      sourceDigest: result.sourceDigest,
      targetDigest: result.destinationDigest,
    })
    const referrers = plan.referrers ? await copySignatures(plan, result.sourceDigest, ctx) : undefined
    return done({
      action: result.upToDate ? 'skipped' : 'copied',
      reason: result.upToDate ? 'same digest at the target' : undefined,
      sourceDigest: result.sourceDigest,
      targetDigest: result.destinationDigest,
      bytes: result.bytes.copied + (referrers?.bytes ?? 0),
      attempts: 1,
      referrers: referrers?.tags,
    })
  } catch (err) {
    const e = toAirlockError(err)
    return done({
      action: 'failed',
      attempts: 1,
      error: { code: e.code, message: e.message },
    })
  }
}

/**
 * An image that is not copied (its digest is already at the target) still gets the referrer tags
 * the target lacks: reported as skipped, with the tags copied (and their bytes). A dry run reports
 * it as planned, naming the tags it would copy.
 */
async function withReferrers(
  plan: PlannedImage,
  digest: string | undefined,
  ctx: ImageContext,
  skip: Pick<ImageReport, 'reason' | 'sourceDigest' | 'targetDigest'>,
): Promise<Partial<ImageReport>> {
  const skipped: Partial<ImageReport> = { action: 'skipped', ...skip }
  if (!plan.referrers || !digest) return skipped
  const r = await copySignatures(plan, digest, ctx)
  if (!r.tags.length) return skipped
  if (ctx.dryRun) {
    const tags = r.tags.map((t) => t.slice(t.lastIndexOf(':') + 1)).join(', ')
    return { ...skipped, action: 'planned', reason: `${skip.reason}; referrer tags to copy: ${tags}` }
  }
  return { ...skipped, bytes: r.bytes, referrers: r.tags }
}

/**
 * cosign's tag scheme (`sha256-<hex>.sig|.att|.sbom`) and the referrers tag schema (`sha256-<hex>`)
 * in the image's repository, copied to the same tags at the target (manifests byte for byte). The
 * OCI referrers API itself is not asked: registries without it (distribution 2.8) answer 404, and
 * these tags are what cosign and ORAS write there.
 *
 * Which to copy: the source's tags come from the listing of planning, the target's from one listing
 * per target repository and run. A tag the target lacks is copied. A tag on both sides is compared
 * by digest only when the state has no record of it (a HEAD on each side) or its record is older
 * than REFERRER_RECHECK_MS (a HEAD of the source, compared with the record); a run where nothing
 * changed asks nothing per referrer tag. A dry run copies nothing and returns what it would copy.
 */
async function copySignatures(
  plan: PlannedImage,
  digest: string,
  ctx: ImageContext,
): Promise<{ tags: string[]; bytes: number }> {
  const prefix = `${digest.replace(':', '-')}`
  // Plus the bare `sha256-<hex>` tag: the referrers tag schema of distribution-spec 1.1, the fallback
  // index of referrers that clients write to registries without the referrers API.
  const tags = ctx
    .sourceTags(plan.source)
    .filter((t) => t === prefix || SIG_SUFFIXES.some((s) => t === `${prefix}${s}`))
  const out = { tags: [] as string[], bytes: 0 }
  if (!tags.length) return out
  const srcRepo = strip(plan.source).replace(/[:@][^/]*$/, '')
  const dstRepo = strip(plan.target).replace(/[:@][^/]*$/, '')
  const atTarget = await ctx.targets.tags(dstRepo)
  for (const tag of tags) {
    const target = `${dstRepo}:${tag}`
    const now = new Date()
    if (atTarget.has(tag)) {
      const known = ctx.state.get(target)
      if (known?.checkedAt && now.getTime() - Date.parse(known.checkedAt) < REFERRER_RECHECK_MS) continue
      const sourceDigest = await head(ctx, `${srcRepo}:${tag}`)
      if (!sourceDigest) continue // deleted since the listing
      const unchanged = known
        ? known.sourceDigest === sourceDigest
        : sourceDigest === (await head(ctx, target))
      if (unchanged) {
        if (!ctx.dryRun)
          ctx.state.set(target, {
            sourceDigest,
            targetDigest: known?.targetDigest ?? sourceDigest,
            checkedAt: now.toISOString(),
          })
        continue
      }
    }
    if (ctx.dryRun) {
      out.tags.push(target)
      continue
    }
    const result = await ctx.targets.once(target, () =>
      copyImage(`docker://${srcRepo}:${tag}`, `docker://${target}`, {
        jobs: ctx.jobs,
        retries: ctx.retries,
        ledger: ctx.ledger,
        signal: ctx.signal,
        source: { registry: ctx.optionsFor(parseDockerRef(srcRepo).registry) },
        destination: { registry: ctx.optionsFor(parseDockerRef(dstRepo).registry) },
      }),
    )
    if (!result) continue // written by another image of the same digest in this run
    ctx.state.set(target, {
      sourceDigest: result.sourceDigest,
      targetDigest: result.destinationDigest,
      checkedAt: now.toISOString(),
    })
    atTarget.add(tag)
    out.tags.push(target)
    out.bytes += result.bytes.copied
  }
  return out
}
