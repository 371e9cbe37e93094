/**
 * One tag of a mirror run: decide by digest (HEAD requests, which Docker Hub does not count as
 * pulls) whether it must be copied; copy it with retries; copy its cosign-style signature,
 * attestation and SBOM tags when asked. Never throws: the outcome is an ImageReport.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { copyImage } from '../copy/copy-image.js'
import { AirlockError, toAirlockError } from '../errors.js'
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
  state: MirrorState
  retries: number
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
    // Immutable tags already at the target: the source is not asked at all.
    const targetDigest = ctx.targetMissing ? undefined : await head(ctx, plan.target)
    if (plan.immutable && targetDigest) {
      return done({ action: 'skipped', reason: 'immutable tag already at the target', targetDigest })
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
      return done({ action: 'skipped', reason: 'same digest at the target', sourceDigest, targetDigest })
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
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await copyImage(plan.source, plan.target, {
          platforms: plan.platforms?.map(parsePlatform),
          jobs: ctx.jobs,
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
          bytes: result.bytes.copied,
          attempts: attempt,
          referrers,
        })
      } catch (err) {
        const e = toAirlockError(err)
        if (ctx.signal.aborted || !e.retryable || attempt > ctx.retries)
          throw Object.assign(e, { attempts: attempt })
        await sleep(500 * 2 ** (attempt - 1), undefined, { signal: ctx.signal })
      }
    }
  } catch (err) {
    const e = toAirlockError(err)
    return done({
      action: 'failed',
      attempts: (err as { attempts?: number }).attempts ?? 1,
      error: { code: e.code, message: e.message },
    })
  }
}

/**
 * cosign's tag scheme (`sha256-<hex>.sig|.att|.sbom`) and the referrers tag schema (`sha256-<hex>`)
 * in the image's repository, copied to the same tags at the target (manifests byte for byte). The
 * OCI referrers API itself is not asked: registries without it (distribution 2.8) answer 404, and
 * these tags are what cosign and ORAS write there.
 */
async function copySignatures(plan: PlannedImage, digest: string, ctx: ImageContext): Promise<string[]> {
  const prefix = `${digest.replace(':', '-')}`
  // Plus the bare `sha256-<hex>` tag: the referrers tag schema of distribution-spec 1.1, the fallback
  // index of referrers that clients write to registries without the referrers API.
  const tags = ctx
    .sourceTags(plan.source)
    .filter((t) => t === prefix || SIG_SUFFIXES.some((s) => t === `${prefix}${s}`))
  const srcRepo = strip(plan.source).replace(/[:@][^/]*$/, '')
  const dstRepo = strip(plan.target).replace(/[:@][^/]*$/, '')
  const copied: string[] = []
  for (const tag of tags) {
    await copyImage(`docker://${srcRepo}:${tag}`, `docker://${dstRepo}:${tag}`, {
      jobs: ctx.jobs,
      signal: ctx.signal,
      source: { registry: ctx.optionsFor(parseDockerRef(srcRepo).registry) },
      destination: { registry: ctx.optionsFor(parseDockerRef(dstRepo).registry) },
    })
    copied.push(`${dstRepo}:${tag}`)
  }
  return copied
}
