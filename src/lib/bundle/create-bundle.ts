import { copyImage } from '../copy/copy-image.js'
import type { CopyEventHandler } from '../copy/events.js'
import { runPool } from '../copy/pool.js'
import { AirlockError, toAirlockError } from '../errors.js'
import type { Descriptor } from '../manifest.js'
import { parseDockerRef } from '../reference.js'
import { listTags } from '../registry-ops.js'
import { parseImageReference } from '../transports/index.js'
import type { RegistryOptions } from '../transports/registry/options.js'
import type { EngineOptions } from '../transports/transport.js'
import { BundleDestination } from './bundle-destination.js'
import { metadataFiles, writePartSums } from './bundle-metadata.js'
import { BundleReference } from './bundle-reference.js'
import type { BundleWriter } from './bundle-writer.js'
import { baseReport, notStarted } from './create-report.js'
import { ANN } from './layout.js'
import { checkOutput, openWriter } from './open-output.js'
import { type BundleProgress, BundleProgressModel, planBlobs } from './progress.js'
import { type BundleItem, itemsFromRefs, itemsFromSpec, type ResolvedItems } from './sources.js'
import type { BundleCreateReport, BundleImageReport } from './types.js'

/** Smallest --split: a part per MiB is already more files than anyone wants to carry. */
export const MIN_PART_SIZE = 1024 * 1024

export interface CreateBundleOptions {
  output: string
  refs?: string[]
  /** A mirror spec selecting the images (instead of refs). */
  specFile?: string
  platforms?: string[]
  /** Add cosign signature/attestation/SBOM tags and referrers-tag indexes of each image. */
  referrers?: boolean
  /** Part size in bytes; unset: one file. */
  split?: number
  /** Registry options for REF sources (a spec brings its own per registry). */
  registry?: RegistryOptions
  engine?: EngineOptions
  /** Images fetched at once (default 4, or the spec's concurrency). */
  concurrency?: number
  /** Blobs in flight per image (default 4). */
  jobs?: number
  /**
   * Attempts after the first of a request that fails in a retryable way (src/lib/http/retry.ts);
   * default the spec's `retries`, else 3.
   */
  retries?: number
  env?: NodeJS.ProcessEnv
  signal?: AbortSignal
  onImage?: (r: BundleImageReport) => void
  /**
   * Bytes fetched or checked so far, of `total`: every image's manifests are resolved first (phase
   * "resolving N images"; one more manifest request per image, and per platform of an index), so
   * the total is fixed before the first byte and never changes.
   */
  onProgress?: BundleProgress
}

export async function createBundle(opts: CreateBundleOptions): Promise<BundleCreateReport> {
  const signal = opts.signal ?? new AbortController().signal
  if (!!opts.refs?.length === !!opts.specFile) {
    throw new AirlockError(
      'INVALID_INPUT',
      'give the images to bundle: REF arguments or -f SPEC (not both)',
      {
        hint: 'airlock bundle create -o images.tar docker.io/library/alpine:3.20, or -f mirror.yaml',
      },
    )
  }
  if (opts.split !== undefined && opts.split < MIN_PART_SIZE) {
    throw new AirlockError('INVALID_INPUT', `--split ${opts.split} is smaller than 1 MiB`, {
      hint: 'give a part size such as 4000M (FAT32 holds files up to 4 GiB - 1 byte) or 2G',
    })
  }
  await checkOutput(opts.output)
  const resolved: ResolvedItems = opts.specFile
    ? await itemsFromSpec(opts.specFile, {
        platforms: opts.platforms,
        referrers: opts.referrers,
        env: opts.env,
        signal,
      })
    : {
        items: itemsFromRefs(opts.refs ?? [], opts.platforms, opts.referrers ?? false),
        errors: [],
        optionsFor: () => opts.registry ?? {},
        tagsOf: async (repo, s) => (await listTags(`docker://${repo}`, opts.registry ?? {}, s)).tags,
      }
  const { writer, existing, layout, partSize, old } = await openWriter(opts.output, opts.split)
  const entries = new Map<string, Descriptor>(
    existing.map((d) => [d.annotations?.[ANN.refName] ?? d.digest, d]),
  )
  const before = new Map([...entries].map(([k, d]) => [k, d.digest]))
  const images: BundleImageReport[] = new Array(resolved.items.length)
  const concurrency = Math.max(1, opts.concurrency ?? resolved.session?.spec.defaults.concurrency ?? 4)
  const progress = new BundleProgressModel(opts.onProgress, 'fetching')
  if (opts.onProgress) {
    try {
      await progress.planAll(
        resolved.items.length,
        concurrency,
        async (i) => {
          const item = resolved.items[i]!
          const src = await parseImageReference(item.source).newSource({
            registry: item.registry ? resolved.optionsFor(item.registry) : opts.registry,
            engine: opts.engine,
            signal,
          })
          try {
            return { repo: opts.output, blobs: await planBlobs(src, item.platforms) }
          } finally {
            await src.close()
          }
        },
        signal,
      )
    } catch (err) {
      await writer.abort()
      throw err
    }
  }
  const ctx: AddContext = {
    writer,
    entries,
    resolved,
    opts,
    signal,
    base: opts.output,
  }
  try {
    await runPool(
      resolved.items.map((item, i) => [item, i] as const),
      concurrency,
      async ([item, i]) => {
        images[i] = await addImage(item, { ...ctx, events: progress.eventsFor(i) })
        opts.onImage?.(images[i])
      },
      signal,
    ).catch((err) => {
      if (!signal.aborted) throw err
    })
    resolved.items.forEach((item, i) => {
      images[i] ??= notStarted(item)
    })
  } catch (err) {
    await writer.abort()
    throw err
  }
  const changed = [...entries].some(([k, d]) => before.get(k) !== d.digest)
  const report = baseReport(opts.output, images, resolved.errors, signal.aborted)
  if (!entries.size) {
    // Nothing could be added to a new bundle: no file is better than an empty one.
    await writer.abort()
    return {
      ...report,
      parts: [],
      changedParts: [],
      outcome: 'unchanged',
      size: 0,
      blobs: { count: 0, bytes: 0 },
    }
  }
  if (!changed && old) {
    const blobs = writer.blobTotals()
    await writer.abort()
    return { ...report, parts: old.parts, changedParts: [], outcome: 'unchanged', size: old.size, blobs }
  }
  const index = [...entries.values()].sort((a, b) =>
    (a.annotations?.[ANN.refName] ?? a.digest) < (b.annotations?.[ANN.refName] ?? b.digest) ? -1 : 1,
  )
  const meta = await metadataFiles(writer, index, layout, partSize)
  const written = await writer.commit(meta)
  if (written.parts.length > 1 || written.parts[0] !== opts.output)
    await writePartSums(opts.output, written, signal.aborted ? undefined : signal)
  return {
    ...report,
    parts: written.parts,
    changedParts: written.changed,
    outcome: old ? 'added' : 'new',
    size: written.size,
    blobs: writer.blobTotals(),
  }
}

interface AddContext {
  writer: BundleWriter
  entries: Map<string, Descriptor>
  resolved: ResolvedItems
  opts: CreateBundleOptions
  signal: AbortSignal
  base: string
  events?: CopyEventHandler
}

async function addImage(item: BundleItem, ctx: AddContext): Promise<BundleImageReport> {
  const started = performance.now()
  const report: BundleImageReport = { ...notStarted(item), error: undefined }
  const done = (r: Partial<BundleImageReport>) => ({
    ...report,
    ...r,
    seconds: (performance.now() - started) / 1000,
  })
  try {
    // Retries happen below, once per request (src/lib/http/retry.ts): a failure here is final.
    const r = await copyInto(item, item.name, ctx, {})
    const referrers =
      item.referrers && item.registry ? await addReferrers(item, r.sourceDigest, ctx) : undefined
    return done({
      action: r.upToDate ? 'present' : 'added',
      reason: r.upToDate ? 'the bundle has this digest already' : undefined,
      digest: r.destinationDigest,
      sourceDigest: r.sourceDigest,
      platforms: r.platforms,
      bytes: r.bytes.copied,
      attempts: 1,
      ...(referrers ? { referrers } : {}),
    })
  } catch (err) {
    const e = toAirlockError(err)
    return done({
      action: 'failed',
      attempts: 1,
      error: { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) },
    })
  }
}

async function copyInto(
  item: BundleItem,
  name: string,
  ctx: AddContext,
  extra: Record<string, string>,
  source = item.source,
) {
  const current = ctx.entries.get(name)?.digest
  let committed: Descriptor | undefined
  const ref: BundleReference = new BundleReference(ctx.base, name, { destination: () => dest })
  const dest = new BundleDestination(ref, ctx.writer, current, (top) => {
    committed = { mediaType: top.mediaType, digest: top.digest, size: top.bytes.length }
  })
  const r = await copyImage(source, ref, {
    platforms: item.platforms,
    jobs: ctx.opts.jobs ?? 4,
    retries: ctx.opts.retries ?? ctx.resolved.session?.spec.defaults.retries,
    signal: ctx.signal,
    onEvent: ctx.events,
    source: {
      registry: item.registry ? ctx.resolved.optionsFor(item.registry) : ctx.opts.registry,
      engine: ctx.opts.engine,
    },
  })
  if (committed) {
    const annotations: Record<string, string> = { ...item.annotations, ...extra, [ANN.refName]: name }
    if (r.sourceDigest !== committed.digest) annotations[ANN.sourceDigest] = r.sourceDigest
    ctx.entries.set(name, { ...committed, annotations })
  }
  return r
}

const SIG_SUFFIXES = ['.sig', '.att', '.sbom']

/**
 * cosign's tags (`sha256-<hex>.sig|.att|.sbom`) and the referrers tag schema's `sha256-<hex>` of the
 * image, from its repository, as entries of their own (the mirror copies the same set).
 */
async function addReferrers(item: BundleItem, digest: string, ctx: AddContext): Promise<string[]> {
  const repo = parseDockerRef(item.source.replace(/^docker:\/\//, '')).name
  const prefix = digest.replace(':', '-')
  const tags = (await ctx.resolved.tagsOf(repo, ctx.signal)).filter(
    (t) => t === prefix || SIG_SUFFIXES.some((s) => t === `${prefix}${s}`),
  )
  const added: string[] = []
  for (const tag of tags) {
    const name = `${repo}:${tag}`
    const extra: Record<string, string> = { [ANN.referrerOf]: digest }
    const target = item.annotations[ANN.target]
    if (target) extra[ANN.target] = target.replace(/[:@][^/]*$/, `:${tag}`)
    await copyInto({ ...item, platforms: undefined }, name, ctx, extra, `docker://${name}`)
    added.push(name)
  }
  return added
}
